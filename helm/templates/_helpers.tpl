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
