module orderservice/bench/goreference

go 1.22
