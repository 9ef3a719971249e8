{{/* The objects' name: the release name, or "<release>-taskwatch" when it does not say taskwatch. */}}
{{- define "taskwatch.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* What selects the pods: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "taskwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "taskwatch.labels" -}}
{{ include "taskwatch.selectorLabels" . }}
app.kubernetes.io/part-of: taskwatch
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The leader Lease: one per release, so two releases in one namespace never share it. */}}
{{- define "taskwatch.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (printf "%s-leader" (include "taskwatch.fullname" .)) -}}
{{- end -}}

{{- define "taskwatch.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Refuse value combinations that would render a broken or unsafe deployment. */}}
{{- define "taskwatch.validate" -}}
{{- if and (eq .Values.journal.backend "sqlite") (gt (int .Values.replicas) 1) -}}
{{- fail (printf "values: replicas is %d but journal.backend is sqlite: a SQLite journal belongs to one process on one ReadWriteOnce volume; set replicas: 1, or journal.backend: postgresql" (int .Values.replicas)) -}}
{{- end -}}
{{- if and (eq .Values.credentials.mode "custom") (empty .Values.credentials.spec) -}}
{{- fail "values: credentials.mode is custom but credentials.spec is empty: give the account's credentials as taskwatch.yaml takes them, e.g. {from: oidc}" -}}
{{- end -}}
{{- end -}}

{{/* The daemon's configuration file, from the values (see values.yaml, `config`). */}}
{{- define "taskwatch.config" -}}
{{- $credentials := dict "from" "directory" "path" "/var/run/secrets/taskwatch" -}}
{{- if eq .Values.credentials.mode "custom" -}}
{{- $credentials = .Values.credentials.spec -}}
{{- end -}}
{{- $account := dict "name" .Values.config.accountName "credentials" $credentials "regions" .Values.config.regions "client_suffix" "${POD_NAME:-}" -}}
{{- $http := dict "listen" (printf "0.0.0.0:%d" (int .Values.port)) "lifecycle" false -}}
{{- $state := dict "path" "/var/lib/taskwatch/state.db" -}}
{{- $leader := dict "enabled" false -}}
{{- if eq .Values.journal.backend "postgresql" -}}
{{- $state = dict "url" "${TASKWATCH_STATE_URL}" "password_file" "/var/run/secrets/taskwatch-postgres/password" -}}
{{- $leader = dict "enabled" true "lease_name" (include "taskwatch.leaseName" .) "shards" (int .Values.leaderElection.shards) -}}
{{- end -}}
{{- $config := dict "accounts" (list $account) "http" $http "state" $state "leader" $leader "actions" (dict "paused" .Values.config.paused) "logging" (dict "level" .Values.config.logLevel "format" "json") -}}
{{- toYaml (mergeOverwrite $config (deepCopy .Values.config.extra)) -}}
{{- end -}}
