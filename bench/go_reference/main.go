// The Go reference of the query benchmark: net/http (the standard library, as the public Go
// implementations of this service use under their routers) answering GET
// /api/v1/orders/{id} with the bytes held for that id in a map, on one core
// (GOMAXPROCS=1, pinned by the bench). No framework, no entity tag, no metrics: what a
// lean Go server costs per cache hit on this machine, measured in every `make bench query`.
//
// Usage: go-reference PORT BODY_FILE ORDERS; ids bench0000000001 up to ORDERS each map to
// their own copy of BODY_FILE's bytes.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
)

const orderPath = "/api/v1/orders/"

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: go-reference PORT BODY_FILE ORDERS")
	}
	runtime.GOMAXPROCS(1)
	body, err := os.ReadFile(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	orders, err := strconv.Atoi(os.Args[3])
	if err != nil {
		log.Fatalf("ORDERS: %v", err)
	}
	bodies := make(map[string][]byte, orders)
	for index := 1; index <= orders; index++ {
		bodies[fmt.Sprintf("bench%010d", index)] = append([]byte(nil), body...)
	}
	notFound := []byte(`{"status_code":404}`)
	handler := http.HandlerFunc(func(writer http.ResponseWriter, request *http.Request) {
		answer, found := bodies[strings.TrimPrefix(request.URL.Path, orderPath)]
		status := http.StatusOK
		if !found || request.Method != http.MethodGet {
			answer, status = notFound, http.StatusNotFound
		}
		header := writer.Header()
		header["Content-Type"] = []string{"application/json"}
		header["Content-Length"] = []string{strconv.Itoa(len(answer))}
		writer.WriteHeader(status)
		writer.Write(answer)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], handler))
}
