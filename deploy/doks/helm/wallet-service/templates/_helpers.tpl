{{/* Chart name, truncated to the 63 characters a label value may hold. */}}
{{- define "wallet-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Base name of every object. With the release named like the chart (the README's `helm upgrade --install
wallet-service ...`) it is just "wallet-service", so `svc/wallet-service` and `deploy/wallet-service` are the API.
*/}}
{{- define "wallet-service.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "wallet-service.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "wallet-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wallet-service
{{- end -}}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "api"). */}}
{{- define "wallet-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wallet-service.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "wallet-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Name of the Secret holding JWT_SECRET and DATABASE_URL; fails closed when none is configured. */}}
{{- define "wallet-service.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- range $key := list "JWT_SECRET" "DATABASE_URL" -}}
{{- if not (get $.Values.secretEnv $key) -}}
{{- fail (printf "secretEnv.%s is empty: set existingSecret, or both secretEnv.JWT_SECRET and secretEnv.DATABASE_URL" $key) -}}
{{- end -}}
{{- end -}}
{{- include "wallet-service.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Environment of every container: the secrets, then env in key order. */}}
{{- define "wallet-service.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "wallet-service.secretName" . }}
      key: DATABASE_URL
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "wallet-service.secretName" . }}
      key: JWT_SECRET
{{- range $k, $v := .Values.env }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* The key that seals webhook endpoint secrets, for the API and the relay only; optional (docs/webhooks.md). */}}
{{- define "wallet-service.webhookEnv" -}}
- name: WEBHOOK_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "wallet-service.secretName" . }}
      key: WEBHOOK_SECRET_KEY
      optional: true
{{- end -}}

{{/* Pod-level settings shared by every workload. */}}
{{- define "wallet-service.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccount.name }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod annotation that rolls pods when the chart-managed Secret changes. */}}
{{- define "wallet-service.secretChecksum" -}}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/*
The read replica's URL (docs/read-replicas.md) for wallet-api's reads and the full audit sweeps of the relay and
the CronJob; nothing unless readReplica.enabled. It comes from the Secret: fails closed when the chart's own
Secret would not hold it.
*/}}
{{- define "wallet-service.readReplicaURLEnv" -}}
{{- if .Values.readReplica.enabled }}
{{- if and (not .Values.existingSecret) (not .Values.secretEnv.READ_DATABASE_URL) -}}
{{- fail "readReplica.enabled needs secretEnv.READ_DATABASE_URL, or existingSecret holding the key READ_DATABASE_URL" -}}
{{- end }}
- name: READ_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "wallet-service.secretName" . }}
      key: READ_DATABASE_URL
{{- end }}
{{- end -}}

{{/* wallet-api's read replica settings: the URL and the routing's tuning; nothing unless readReplica.enabled. */}}
{{- define "wallet-service.readReplicaEnv" -}}
{{- with .Values.readReplica }}
{{- if .enabled }}
{{- include "wallet-service.readReplicaURLEnv" $ }}
- name: REPLICA_MAX_WAIT
  value: {{ .maxWait | quote }}
- name: REPLICA_MAX_LAG
  value: {{ .maxLag | quote }}
- name: REPLICA_CHECK_INTERVAL
  value: {{ .checkInterval | quote }}
{{- end }}
{{- end }}
{{- end -}}
