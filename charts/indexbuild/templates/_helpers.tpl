{{/*
The chart name: app.kubernetes.io/name on every object.
*/}}
{{- define "indexbuild.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name. Release "indexbuild" gives "indexbuild",
so names match config/default (namePrefix: indexbuild-); another release
name gives "<release>-indexbuild".
*/}}
{{- define "indexbuild.fullname" -}}
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

{{- define "indexbuild.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "indexbuild.labels" -}}
helm.sh/chart: {{ include "indexbuild.chart" . }}
app.kubernetes.io/name: {{ include "indexbuild.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: indexbuild
{{- end }}

{{/*
The manager pods' labels and the Deployment's and metrics Service's selector:
the same as config/default, so a Helm install can take over a kustomize one.
*/}}
{{- define "indexbuild.selectorLabels" -}}
app.kubernetes.io/name: {{ include "indexbuild.name" . }}
app.kubernetes.io/component: manager
{{- end }}

{{- define "indexbuild.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "indexbuild.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "indexbuild.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
