{{/* Names, labels and the pieces every workload of this chart shares. */}}

{{- define "order-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "order-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "order-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: include with (dict "root" $ "component" "query"). */}}
{{- define "order-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "order-service.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "order-service.labels" -}}
helm.sh/chart: {{ include "order-service.chart" .root }}
{{ include "order-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: order-service
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* One of our images: include with (dict "root" $ "name" "order-query"). */}}
{{- define "order-service.image" -}}
{{- $registry := .root.Values.image.registry | trimSuffix "/" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry }}{{ printf "%s/%s:%s" $registry .name $tag }}{{ else }}{{ printf "%s:%s" .name $tag }}{{ end }}
{{- end }}

{{- define "order-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "order-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "order-service.secretName" -}}
{{- default (printf "%s-connections" (include "order-service.fullname" .)) .Values.connections.secret.name }}
{{- end }}

{{- define "order-service.commonConfigName" -}}
{{- printf "%s-common" (include "order-service.fullname" .) }}
{{- end }}

{{/* The security context of every container (values.containerSecurityContext). */}}
{{- define "order-service.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* A writable /tmp for containers whose root filesystem is read-only. */}}
{{- define "order-service.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Variables every one of our processes reads: the `connections` and REDIS_URL. */}}
{{- define "order-service.connectionEnv" -}}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "order-service.secretName" . }}
      key: redis-url
{{- end }}

{{/* Pod and namespace as OpenTelemetry resource attributes (read by the OTel SDK). */}}
{{- define "order-service.otelResourceEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)"
{{- end }}

{{/* Pod security context of a dev server image that runs as its own fixed user. */}}
{{- define "order-service.devPodSecurityContext" -}}
{{- $ids := dict "runAsUser" .uid "runAsGroup" .uid "fsGroup" .uid -}}
{{- toYaml (merge $ids (deepCopy .root.Values.podSecurityContext)) }}
{{- end }}
