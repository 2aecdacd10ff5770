{{/* Names are cut at 52 characters: the StatefulSet's pod and revision labels add a suffix and must stay within 63. */}}
{{- define "bucketftp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "bucketftp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "bucketftp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bucketftp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "bucketftp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bucketftp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "bucketftp.secretName" -}}
{{- default (include "bucketftp.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "bucketftp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bucketftp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The passive range: perReplica ports for each of maxReplicas (default:
replicas) replicas. Checks the values it depends on.
*/}}
{{- define "bucketftp.passiveRange" -}}
{{- $n := int .Values.replicas }}
{{- $per := int .Values.passivePorts.perReplica }}
{{- $first := int .Values.passivePorts.first }}
{{- $max := int (default 0 .Values.passivePorts.maxReplicas) }}
{{- if lt $n 1 }}{{ fail "replicas must be at least 1" }}{{ end }}
{{- if lt $per 1 }}{{ fail "passivePorts.perReplica must be at least 1" }}{{ end }}
{{- if and (gt $max 0) (lt $max $n) }}{{ fail (printf "passivePorts.maxReplicas (%d) is below replicas (%d)" $max $n) }}{{ end }}
{{- $last := sub (add $first (mul (max $n $max) $per)) 1 }}
{{- if or (lt $first 1024) (gt $last 65535) }}{{ fail (printf "passive range %d-%d must be within 1024-65535" $first $last) }}{{ end }}
{{- printf "%d-%d" $first $last }}
{{- end }}

{{/*
Annotations of a LoadBalancer Service: the AWS Load Balancer Controller's,
then the given ones, with {ordinal} replaced when an ordinal is given.
Call with (dict "root" $ "annotations" map "ordinal" "N" or "").
*/}}
{{- define "bucketftp.lbAnnotations" -}}
{{- $v := .root.Values }}
{{- $a := dict }}
{{- if $v.awsLoadBalancer.enabled }}
{{- $_ := set $a "service.beta.kubernetes.io/aws-load-balancer-type" "external" }}
{{- $_ := set $a "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" "ip" }}
{{- $_ := set $a "service.beta.kubernetes.io/aws-load-balancer-scheme" $v.awsLoadBalancer.scheme }}
{{- $_ := set $a "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol" "tcp" }}
{{- $_ := set $a "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port" (toString (int $v.controlPort)) }}
{{- end }}
{{- if $v.proxyProtocol.enabled }}
{{- $_ := set $a "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol" "*" }}
{{- end }}
{{- range $k, $val := .annotations }}
{{- if $.ordinal }}
{{- $_ := set $a $k (toString $val | replace "{ordinal}" $.ordinal) }}
{{- else }}
{{- $_ := set $a $k (toString $val) }}
{{- end }}
{{- end }}
{{- if $a }}
{{- toYaml $a }}
{{- end }}
{{- end }}

{{/*
Whether the pods see each client's own address: PROXY protocol, or a
LoadBalancer or NodePort control Service with externalTrafficPolicy Local
whose balancer is not one known to hide it (an NLB with IP targets). "true"
or "".
*/}}
{{- define "bucketftp.clientAddressSeen" -}}
{{- $v := .Values }}
{{- $a := include "bucketftp.lbAnnotations" (dict "root" $ "annotations" $v.service.annotations "ordinal" "") | fromYaml }}
{{- $ipTargets := eq (toString (index $a "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type")) "ip" }}
{{- if or $v.proxyProtocol.enabled (and (has $v.service.type (list "LoadBalancer" "NodePort")) (eq $v.service.externalTrafficPolicy "Local") (not $ipTargets)) }}true{{ end }}
{{- end }}

{{/*
The limits, as YAML: connections, connectionsPerIP, passivePerIP (strings)
and seen (from bucketftp.clientAddressSeen). An empty per-address value is
the server's default when the pods see clients' addresses, else the pod's
whole share: maxConnections and passivePorts.perReplica.
*/}}
{{- define "bucketftp.limits" -}}
{{- $l := .Values.limits }}
{{- $seen := include "bucketftp.clientAddressSeen" . }}
{{- $total := int $l.maxConnections }}
{{- if lt $total 1 }}{{ fail "limits.maxConnections must be at least 1" }}{{ end }}
{{- $perIP := $total }}
{{- $pasv := int .Values.passivePorts.perReplica }}
{{- if $seen }}{{ $perIP = 200 }}{{ $pasv = 8 }}{{ end }}
{{- if not (or (kindIs "invalid" $l.maxConnectionsPerIP) (eq (toString $l.maxConnectionsPerIP) "")) }}{{ $perIP = int $l.maxConnectionsPerIP }}{{ end }}
{{- if not (or (kindIs "invalid" $l.maxPassivePerIP) (eq (toString $l.maxPassivePerIP) "")) }}{{ $pasv = int $l.maxPassivePerIP }}{{ end }}
{{- if lt $perIP 1 }}{{ fail "limits.maxConnectionsPerIP must be at least 1 (empty: chosen by the chart)" }}{{ end }}
{{- if lt $pasv 1 }}{{ fail "limits.maxPassivePerIP must be at least 1 (empty: chosen by the chart)" }}{{ end }}
connections: {{ toString $total | quote }}
connectionsPerIP: {{ toString $perIP | quote }}
passivePerIP: {{ toString $pasv | quote }}
seen: {{ ternary "true" "" (eq $seen "true") | quote }}
{{- end }}
