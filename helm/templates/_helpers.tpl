{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "attache.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "attache.fullname" -}}
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

{{- define "attache.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "attache.labels" -}}
helm.sh/chart: {{ include "attache.chart" . }}
{{ include "attache.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "attache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "attache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "attache.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "attache.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the provider key: the user's, or the one this chart creates. */}}
{{- define "attache.providerSecret" -}}
{{- default (printf "%s-provider" (include "attache.fullname" .)) .Values.provider.existingSecret }}
{{- end }}

{{- define "attache.clientKeysSecret" -}}
{{- default (printf "%s-client-keys" (include "attache.fullname" .)) .Values.clientKeys.existingSecret }}
{{- end }}

{{- define "attache.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Labels of the chart's other pods (the helm test, the migration Job): not the selector labels,
so the Service never routes to them and the Deployment, PDB and NetworkPolicy never count them.
Call with (dict "root" $ "component" "name").
*/}}
{{- define "attache.componentLabels" -}}
helm.sh/chart: {{ include "attache.chart" .root }}
app.kubernetes.io/name: {{ printf "%s-%s" (include "attache.name" .root) .component | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: {{ include "attache.name" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "attache.adminKeysSecret" -}}
{{- default (printf "%s-admin-keys" (include "attache.fullname" .)) .Values.adminKeys.existingSecret }}
{{- end }}

{{- define "attache.callerSecret" -}}
{{- default (printf "%s-caller" (include "attache.fullname" .)) .Values.callerSecret.existingSecret }}
{{- end }}

{{- define "attache.clientKeysConfigured" -}}
{{- if or .Values.clientKeys.keys .Values.clientKeys.existingSecret }}true{{ end }}
{{- end }}

{{- define "attache.adminKeysConfigured" -}}
{{- if or .Values.adminKeys.keys .Values.adminKeys.existingSecret }}true{{ end }}
{{- end }}

{{- define "attache.callerSecretConfigured" -}}
{{- if or .Values.callerSecret.value .Values.callerSecret.existingSecret }}true{{ end }}
{{- end }}

{{/* Seconds of drain after SIGTERM: attache.shutdownGrace, else the LLM deadline + 10. */}}
{{- define "attache.shutdownGrace" -}}
{{- if hasKey .Values.attache "shutdownGrace" }}
{{- int .Values.attache.shutdownGrace }}
{{- else }}
{{- add (int .Values.attache.llm.timeout) 10 }}
{{- end }}
{{- end }}

{{/*
The kubelet's deadline: the preStop pause, then the drain, then 5 s for the process to exit
(close the store, mark what async work is left interrupted, flush its logs).
*/}}
{{- define "attache.terminationGracePeriodSeconds" -}}
{{- add (int .Values.preStopSleepSeconds) (int (include "attache.shutdownGrace" .)) 5 }}
{{- end }}

{{/* The fewest and the most pods the release can run. */}}
{{- define "attache.minPods" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{- define "attache.maxPods" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.maxReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/* The HPA's in-flight target per pod: a share of the pod's bound (workers x maxInflight). */}}
{{- define "attache.inFlightTarget" -}}
{{- $bound := mul (int .Values.attache.workers) (int .Values.attache.maxInflight) }}
{{- max 1 (div (mul $bound (int .Values.autoscaling.inFlight.targetPercentOfBound)) 100) }}
{{- end }}

{{/*
Settings that contradict each other, refused at render time with what to do instead. The
schema catches what one value alone gets wrong; these need two values side by side.
*/}}
{{- define "attache.validate" -}}
{{- $keys := include "attache.clientKeysConfigured" . }}
{{- if and (not $keys) (not .Values.auth.open) }}
{{- fail "no client keys: set clientKeys.existingSecret (a Secret with one key per line under clientKeys.existingSecretKey) or clientKeys.keys; or, to serve the API to anyone who can reach it, auth.open=true" }}
{{- end }}
{{- if and .Values.auth.open $keys }}
{{- fail "auth.open=true and client keys are set: the service would require the keys; drop one of the two" }}
{{- end }}
{{- if and .Values.auth.open (include "attache.adminKeysConfigured" .) }}
{{- fail "adminKeys are set with auth.open=true: in open mode every caller already sees every assessment; set client keys, or drop adminKeys" }}
{{- end }}
{{- $postgresql := eq .Values.store.type "postgresql" }}
{{- if and $postgresql (not .Values.store.postgresql.existingSecret) }}
{{- fail "store.type=postgresql needs store.postgresql.existingSecret: a Secret holding the database URL (postgresql://user:password@host:5432/db)" }}
{{- end }}
{{- $maxPods := int (include "attache.maxPods" .) }}
{{- if and (eq .Values.store.type "sqlite") (gt $maxPods 1) }}
{{- fail (printf "store.type=sqlite keeps assessments in each pod, but up to %d pods can run: a retry or a lookup would reach a pod that never saw the request. Use store.type=postgresql (or off) for more than one pod, or run one (replicaCount=1, autoscaling.enabled=false)" $maxPods) }}
{{- end }}
{{- if and (not (include "attache.callerSecretConfigured" .)) (or $postgresql .Values.redis.existingSecret (gt $maxPods 1)) }}
{{- fail "callerSecret: every replica must name callers with the same secret (PostgreSQL, Redis or more than one pod): set callerSecret.existingSecret (a Secret with at least 32 random characters under callerSecret.existingSecretKey) or callerSecret.value" }}
{{- end }}
{{- $grace := int (include "attache.shutdownGrace" .) }}
{{- if lt $grace (int .Values.attache.llm.timeout) }}
{{- fail (printf "attache.shutdownGrace (%d s) is shorter than attache.llm.timeout (%d s): a roll-out would cut off assessments still within their deadline. Raise it, or leave it unset (timeout + 10)" $grace (int .Values.attache.llm.timeout)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is larger than autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- fail "autoscaling needs resources.requests.cpu: the CPU target is a share of the request" }}
{{- end }}
{{- end }}

{{/* Where the service keeps what outlives a request: the SQLite store, the caller secret. */}}
{{- define "attache.dataDir" -}}
/var/lib/attache
{{- end }}

{{/* The store's settings: the same in the pods and in the migration Job. */}}
{{- define "attache.storeEnv" -}}
- name: ATTACHE_LOG_LEVEL
  value: {{ .Values.attache.logLevel | quote }}
- name: ATTACHE_DATA_DIR
  value: {{ include "attache.dataDir" . }}
{{- if eq .Values.store.type "postgresql" }}
- name: ATTACHE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.store.postgresql.existingSecret }}
      key: {{ .Values.store.postgresql.existingSecretKey }}
{{- else if eq .Values.store.type "off" }}
- name: ATTACHE_DATABASE_URL
  value: "off"
{{- end }}
{{- end }}
