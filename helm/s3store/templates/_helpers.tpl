{{/* Names and labels shared by every manifest. */}}

{{- define "s3store.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "s3store.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "s3store.labels" -}}
{{ include "s3store.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "s3store.nodeService" -}}
{{ include "s3store.fullname" . }}-node
{{- end -}}

{{- define "s3store.secretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-secrets" (include "s3store.fullname" .)) -}}
{{- end -}}

{{/* Every storage node's pod name, one per line (StatefulSet <fullname>-node-<zone>). */}}
{{- define "s3store.nodePods" -}}
{{- $root := . -}}
{{- range $zone := .Values.storage.zones -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $zone) -}}
{{- fail (printf "storage.zones: %q is not a DNS label (lower-case letters, digits, '-')" $zone) -}}
{{- end -}}
{{- range $i := until (int $root.Values.storage.nodesPerZone) }}
{{ include "s3store.fullname" $root }}-node-{{ $zone }}-{{ $i }}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "s3store.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
