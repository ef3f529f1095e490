{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "deploymentgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name of the release's objects. It contains "deploymentgate"
unless overridden, which also keeps the scrape job recognisable.
*/}}
{{- define "deploymentgate.fullname" -}}
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

{{- define "deploymentgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object of the release carries. */}}
{{- define "deploymentgate.labels" -}}
helm.sh/chart: {{ include "deploymentgate.chart" . }}
{{ include "deploymentgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "deploymentgate.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: deploymentgate
{{- end }}

{{/* Labels that select the operator's pods; never change them on upgrade. */}}
{{- define "deploymentgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deploymentgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "deploymentgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "deploymentgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "deploymentgate.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "deploymentgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "deploymentgate.imageTag" .) }}
{{- end }}
{{- end }}

{{/* Name of the kopf peering object (ClusterKopfPeering or KopfPeering). */}}
{{- define "deploymentgate.peeringName" -}}
{{- default (include "deploymentgate.fullname" .) .Values.peering.name }}
{{- end }}

{{/*
The operators to run, as JSON: one per shard ({name, suffix, namespaces}),
or a single one serving watchNamespaces (suffix "", namespaces [] = all).
*/}}
{{- define "deploymentgate.shards" -}}
{{- $out := list }}
{{- if .Values.shards }}
{{- range .Values.shards }}
{{- $out = append $out (dict "name" .name "suffix" (printf "-%s" .name) "namespaces" .namespaces) }}
{{- end }}
{{- else }}
{{- $out = append $out (dict "name" "" "suffix" "" "namespaces" .Values.watchNamespaces) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* Every namespace served (JSON list; empty = all namespaces). */}}
{{- define "deploymentgate.namespaces" -}}
{{- $out := list }}
{{- range (include "deploymentgate.shards" . | fromJsonArray) }}
{{- $out = concat $out .namespaces }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
Refuses value combinations that would deploy a broken operator; called from
the Deployment so every render checks them.
*/}}
{{- define "deploymentgate.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) }}
{{- fail "replicas > 1 needs peering.enabled: replicas without peering would all act on the same gates" }}
{{- end }}
{{- if and .Values.shards .Values.watchNamespaces }}
{{- fail "shards and watchNamespaces exclude each other: each shard lists its own namespaces" }}
{{- end }}
{{- $seen := dict }}
{{- range .Values.shards }}
{{- $shard := .name }}
{{- if hasKey $seen (printf "shard/%s" $shard) }}
{{- fail (printf "shards: the name %q is used twice" $shard) }}
{{- end }}
{{- $_ := set $seen (printf "shard/%s" $shard) true }}
{{- range .namespaces }}
{{- if hasKey $seen . }}
{{- fail (printf "shards: namespace %q is in shards %q and %q; two operators would act on its gates" . (get $seen .) $shard) }}
{{- end }}
{{- $_ := set $seen . $shard }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Command-line arguments of `deploymentgate run` for one shard (see
deploymentgate.shards), built from the values: (dict "root" $ "shard" $shard).
*/}}
{{- define "deploymentgate.args" -}}
{{- $values := .root.Values -}}
- run
{{- if .shard.namespaces }}
{{- range .shard.namespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
- --metrics-port={{ $values.metrics.port }}
- --liveness=http://0.0.0.0:{{ $values.health.port }}/healthz
- --log-level={{ $values.logLevel }}
- --log-format={{ $values.logFormat }}
{{- range $i, $hook := $values.notifications.webhooks }}
- --webhook-from-env={{ $hook.type }}=DEPLOYMENTGATE_WEBHOOK_{{ $i }}
{{- end }}
{{- if $values.peering.enabled }}
- --peering={{ include "deploymentgate.peeringName" .root }}{{ .shard.suffix }}
{{- end }}
{{- range $values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
A list of strings as the inside of a CEL list literal: 'a', 'b'.
*/}}
{{- define "deploymentgate.celStrings" -}}
{{- $out := list -}}
{{- range . -}}
{{- $out = append $out (printf "'%s'" (replace "'" "\\'" (replace "\\" "\\\\" .))) -}}
{{- end -}}
{{- join ", " $out -}}
{{- end -}}
