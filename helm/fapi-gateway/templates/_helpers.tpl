{{/* Chart name, overridable. */}}
{{- define "fapi-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: <release>-<chart> unless the release name already contains the chart name. */}}
{{- define "fapi-gateway.fullname" -}}
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

{{/* <fullname>-<suffix>, kept within 63 characters. */}}
{{- define "fapi-gateway.suffixed" -}}
{{- $full := include "fapi-gateway.fullname" .root }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .suffix)))) .suffix | trimSuffix "-" }}
{{- end }}

{{- define "fapi-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fapi-gateway.labels" -}}
helm.sh/chart: {{ include "fapi-gateway.chart" . }}
{{ include "fapi-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fapi-gateway
{{- end }}

{{- define "fapi-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fapi-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fapi-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fapi-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fapi-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Where the pod sees its files. The image's command reads /etc/fapi-gateway/config.yaml; the Secrets
are mounted beside it, one folder each, and the config names the files inside them.
*/}}
{{- define "fapi-gateway.paths" -}}
configDir: /etc/fapi-gateway
config: /etc/fapi-gateway/config.yaml
profile: /etc/fapi-gateway/profile.yaml
tlsDir: /etc/fapi-gateway/tls
clientCADir: /etc/fapi-gateway/client-ca
keysDir: /etc/fapi-gateway/keys
redisCADir: /etc/fapi-gateway/redis-ca
interactionCADir: /etc/fapi-gateway/interaction-ca
adminCADir: /etc/fapi-gateway/admin-ca
upstreamLoginKeyDir: /etc/fapi-gateway/upstream-login-key
upstreamLoginCertDir: /etc/fapi-gateway/upstream-login-cert
upstreamLoginCADir: /etc/fapi-gateway/upstream-login-ca
uiDir: /etc/fapi-gateway/ui
{{- end }}

{{/* Seconds the pod needs to stop: the preStop pause plus the gateway's drain. */}}
{{- define "fapi-gateway.stopSeconds" -}}
{{- add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.gateway.shutdown.graceSeconds) }}
{{- end }}

{{- define "fapi-gateway.terminationGracePeriodSeconds" -}}
{{- $needed := int (include "fapi-gateway.stopSeconds" .) }}
{{- if .Values.terminationGracePeriodSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed lifecycle.preStopSleepSeconds + gateway.shutdown.graceSeconds (%d), or the kubelet kills pods mid-drain" (int .Values.terminationGracePeriodSeconds) $needed) }}
{{- end }}
{{- .Values.terminationGracePeriodSeconds }}
{{- else }}
{{- add $needed 10 }}
{{- end }}
{{- end }}

{{/* Refuses combinations that would deploy a broken gateway. */}}
{{- define "fapi-gateway.validate" -}}
{{- if and (eq .Values.store.type "memory") (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "store.type memory keeps codes and sessions inside one pod: with replicaCount > 1 or autoscaling, use store.type redis" }}
{{- end }}
{{- if and (eq .Values.store.type "redis") (not .Values.store.redis.urlSecret.name) }}
{{- fail "store.type redis needs store.redis.urlSecret.name: a Secret holding the redis:// or rediss:// URL (with its password)" }}
{{- end }}
{{- if and .Values.ingress.enabled (eq .Values.ingress.mode "terminate") (not .Values.gateway.forwardedClientCertificate.enabled) }}
{{- fail "ingress.mode terminate: the ingress presents the client certificate in a header, so set gateway.forwardedClientCertificate.enabled with the ingress controller's pod CIDR in trustedProxies" }}
{{- end }}
{{- if and .Values.gateway.forwardedClientCertificate.enabled (not .Values.gateway.forwardedClientCertificate.trustedProxies) }}
{{- fail "gateway.forwardedClientCertificate.trustedProxies must list the proxy addresses (CIDRs) allowed to send the certificate header" }}
{{- end }}
{{- $i := .Values.gateway.interaction }}
{{- if and (eq $i.mode "external") (not .Values.secrets.interactionClientCA.name) }}
{{- fail "gateway.interaction.mode external needs secrets.interactionClientCA.name: a Secret with the CA bundle that issues the bank's login apps' client certificates (the interaction listener trusts only it)" }}
{{- end }}
{{- if and (eq (include "fapi-gateway.adminAuth" .) "mtls") (not .Values.secrets.adminClientCA.name) }}
{{- fail "gateway.grantManagement.admin.auth mtls needs secrets.adminClientCA.name: a Secret with the CA bundle that issues the bank's back-office client certificates (the admin listener trusts only it)" }}
{{- end }}
{{- if and .Values.gateway.signer (not .Values.secrets.hsmPin.name) }}
{{- fail "gateway.signer needs secrets.hsmPin.name: a Secret with the HSM token's user PIN (never in the values)" }}
{{- end }}
{{- if and (eq $i.mode "oidc") (eq (toString $i.clientAuth) "private_key_jwt") (not .Values.secrets.upstreamLogin.clientKey.name) }}
{{- fail "gateway.interaction.clientAuth private_key_jwt needs secrets.upstreamLogin.clientKey.name: a Secret with the gateway's private JWK for the OpenID provider" }}
{{- end }}
{{- if and (eq $i.mode "oidc") (eq (toString $i.clientAuth) "tls_client_auth") (not .Values.secrets.upstreamLogin.clientCertificate.name) }}
{{- fail "gateway.interaction.clientAuth tls_client_auth needs secrets.upstreamLogin.clientCertificate.name: a kubernetes.io/tls Secret with the gateway's client certificate for the OpenID provider" }}
{{- end }}
{{- end }}

{{/* gateway.grantManagement.admin.auth, or the gateway's default (off). */}}
{{- define "fapi-gateway.adminAuth" -}}
{{- toString ((.Values.gateway.grantManagement.admin | default dict).auth | default "off") }}
{{- end }}

{{/* The gateway's config file (see src/config/schema.ts), as YAML. */}}
{{- define "fapi-gateway.config" -}}
{{- $g := .Values.gateway }}
{{- $p := include "fapi-gateway.paths" . | fromYaml }}
{{- $host := $g.listenHost }}
{{- $mtls := dict "host" $host "port" (int $g.ports.mtls) }}
{{- with $g.mtlsUrl }}{{ $_ := set $mtls "url" . }}{{ end }}
{{- $tls := dict
      "cert" (printf "%s/tls.crt" $p.tlsDir)
      "key" (printf "%s/tls.key" $p.tlsDir)
      "clientCAs" (list (printf "%s/%s" $p.clientCADir .Values.secrets.clientCA.key)) }}
{{- if $g.forwardedClientCertificate.enabled }}
{{- $_ := set $tls "forwardedClientCertificate" (dict "header" $g.forwardedClientCertificate.header "trustedProxies" $g.forwardedClientCertificate.trustedProxies) }}
{{- end }}
{{- $keys := dict }}
{{- if $g.signer }}
{{- /* The PIN never in the ConfigMap: the Secret's value reaches the gateway as FAPI_GATEWAY_HSM_PIN. */}}
{{- $signer := deepCopy $g.signer }}
{{- $_ := set $signer "pin" (dict "env" "FAPI_GATEWAY_HSM_PIN") }}
{{- $_ := set $keys "signer" $signer }}
{{- else }}
{{- $_ := set $keys "signing" (printf "%s/%s" $p.keysDir .Values.secrets.signingKeys.key) }}
{{- end }}
{{- with $g.activeKeys }}{{ $_ := set $keys "active" . }}{{ end }}
{{- $store := dict "type" .Values.store.type }}
{{- if eq .Values.store.type "redis" }}
{{- $r := .Values.store.redis }}
{{- with $r.keyPrefix }}{{ $_ := set $store "keyPrefix" . }}{{ end }}
{{- if $r.caSecret.name }}{{ $_ := set $store "tls" (dict "ca" (printf "%s/%s" $p.redisCADir $r.caSecret.key)) }}{{ end }}
{{- with $r.sentinel }}{{ $_ := set $store "sentinel" . }}{{ end }}
{{- with $r.cluster }}{{ $_ := set $store "cluster" . }}{{ end }}
{{- end }}
{{- $config := dict
      "issuer" $g.issuer
      "profile" (ternary $p.profile $g.profile (ne $g.customProfile ""))
      "listeners" (dict
        "public" (dict "host" $host "port" (int $g.ports.public))
        "mtls" $mtls
        "ops" (dict "host" $host "port" (int $g.ports.ops)))
      "tls" $tls
      "keys" $keys
      "store" $store
      "clients" $g.clients
      "users" $g.users
      "routes" $g.routes
      "loadShedding" $g.loadShedding
      "shutdown" $g.shutdown
      "limits" $g.limits
      "log" $g.log
      "metrics" $g.metrics }}
{{- with $g.policy }}{{ $_ := set $config "policy" . }}{{ end }}
{{- with $g.registration }}{{ $_ := set $config "registration" . }}{{ end }}
{{- with $g.grantManagement }}{{ $_ := set $config "grantManagement" (deepCopy .) }}{{ end }}
{{- if eq (include "fapi-gateway.adminAuth" .) "mtls" }}
{{- $_ := set $config.grantManagement.admin "clientCAs" (list (printf "%s/%s" $p.adminCADir .Values.secrets.adminClientCA.key)) }}
{{- $_ := set $config.listeners "admin" (dict "host" $host "port" (int $g.ports.admin)) }}
{{- end }}
{{- with $g.ecosystem }}{{ $_ := set $config "ecosystem" . }}{{ end }}
{{- with $g.tracing }}{{ $_ := set $config "tracing" . }}{{ end }}
{{- with $g.audit }}{{ $_ := set $config "audit" . }}{{ end }}
{{- with $g.ui }}{{ $_ := set $config "ui" . }}{{ end }}
{{- $interaction := deepCopy $g.interaction }}
{{- if eq $interaction.mode "external" }}
{{- $_ := set $interaction "clientCAs" (list (printf "%s/%s" $p.interactionCADir .Values.secrets.interactionClientCA.key)) }}
{{- $_ := set $config.listeners "interaction" (dict "host" $host "port" (int $g.ports.interaction)) }}
{{- else if eq $interaction.mode "oidc" }}
{{- $u := .Values.secrets.upstreamLogin }}
{{- if eq (toString $interaction.clientAuth) "private_key_jwt" }}
{{- $_ := set $interaction "clientKey" (printf "%s/%s" $p.upstreamLoginKeyDir $u.clientKey.key) }}
{{- end }}
{{- if eq (toString $interaction.clientAuth) "tls_client_auth" }}
{{- $_ := set $interaction "clientCertificate" (dict "cert" (printf "%s/tls.crt" $p.upstreamLoginCertDir) "key" (printf "%s/tls.key" $p.upstreamLoginCertDir)) }}
{{- end }}
{{- if $u.ca.name }}{{ $_ := set $interaction "ca" (printf "%s/%s" $p.upstreamLoginCADir $u.ca.key) }}{{ end }}
{{- end }}
{{- /* builtin with nothing but the mode is the gateway's default: the config stays as it was. */}}
{{- if or (ne $interaction.mode "builtin") (gt (len $interaction) 1) }}
{{- $_ := set $config "interaction" $interaction }}
{{- end }}
{{- $config = mergeOverwrite $config (deepCopy $g.extraConfig) }}
{{- toYaml $config }}
{{- end }}
