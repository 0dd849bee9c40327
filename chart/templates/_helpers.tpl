{{/* ---------------------------------------------------------------- names and labels */}}

{{- define "crypto-gaf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crypto-gaf.fullname" -}}
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

{{/* <fullname>-<component>, short enough for a StatefulSet (its pods' revision label) and a DNS label. */}}
{{- define "crypto-gaf.componentName" -}}
{{- printf "%s-%s" (include "crypto-gaf.fullname" .root | trunc 38 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "crypto-gaf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crypto-gaf.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every object; dict "root" $ "component" "api". */}}
{{- define "crypto-gaf.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "crypto-gaf.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: crypto-gaf
{{- end -}}

{{/* ---------------------------------------------------------------- images */}}

{{/* [registry/]<repository|name>:<tag>; dict "root" $ "image" <component image or nil>.
     Component fields win over .Values.image; an empty tag means the chart's appVersion. */}}
{{- define "crypto-gaf.image" -}}
{{- $g := .root.Values.image -}}
{{- $c := .image | default dict -}}
{{- $registry := $c.registry | default $g.registry -}}
{{- $name := $c.repository | default $c.name | default $g.name -}}
{{- $tag := toString ($c.tag | default $g.tag | default .root.Chart.AppVersion) -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry $name $tag -}}
{{- else -}}
{{- printf "%s:%s" $name $tag -}}
{{- end -}}
{{- end -}}

{{- define "crypto-gaf.imagePullPolicy" -}}
{{- $c := .image | default dict -}}
{{- $c.pullPolicy | default .root.Values.image.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{- define "crypto-gaf.imagePullSecrets" -}}
{{- $g := .Values.global | default dict -}}
{{- with $g.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------- security */}}

{{/* The pod baseline, with the component's podSecurityContext merged over it. */}}
{{- define "crypto-gaf.podSecurityContext" -}}
{{- $base := dict "runAsNonRoot" true "runAsUser" 10001 "runAsGroup" 10001 "fsGroup" 10001 "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $base (deepCopy (. | default dict))) -}}
{{- end -}}

{{/* The container baseline, with the component's securityContext merged over it. */}}
{{- define "crypto-gaf.securityContext" -}}
{{- $base := dict "runAsNonRoot" true "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL")) -}}
{{- toYaml (mergeOverwrite $base (deepCopy (. | default dict))) -}}
{{- end -}}

{{/* ---------------------------------------------------------------- database */}}

{{/* bundled | url | host | none */}}
{{- define "crypto-gaf.db.mode" -}}
{{- $e := .Values.externalDatabase | default dict -}}
{{- if .Values.postgresql.enabled -}}
bundled
{{- else if or $e.url (and $e.existingSecret $e.existingSecretUrlKey) -}}
url
{{- else if $e.host -}}
host
{{- else -}}
none
{{- end -}}
{{- end -}}

{{/* Renders nothing; fails the install with a message when the database settings contradict each other. */}}
{{- define "crypto-gaf.validate" -}}
{{- $e := .Values.externalDatabase | default dict -}}
{{- $external := or $e.url $e.host $e.existingSecretUrlKey -}}
{{- if and .Values.postgresql.enabled $external -}}
{{- fail "crypto-gaf: postgresql.enabled=true and externalDatabase.* are both set; choose one (set postgresql.enabled=false to use the external database)" -}}
{{- end -}}
{{- if eq (include "crypto-gaf.db.mode" .) "none" -}}
{{- fail "crypto-gaf: no database: set postgresql.enabled=true (bundled), or externalDatabase.url, externalDatabase.host, or externalDatabase.existingSecret with existingSecretUrlKey" -}}
{{- end -}}
{{- if and $e.url $e.host -}}
{{- fail "crypto-gaf: set externalDatabase.url or externalDatabase.host, not both" -}}
{{- end -}}
{{- if and $e.url $e.existingSecretUrlKey -}}
{{- fail "crypto-gaf: set externalDatabase.url or externalDatabase.existingSecretUrlKey, not both" -}}
{{- end -}}
{{- if and $e.existingSecretUrlKey (not $e.existingSecret) -}}
{{- fail "crypto-gaf: externalDatabase.existingSecretUrlKey needs externalDatabase.existingSecret" -}}
{{- end -}}
{{- if and $e.password $e.existingSecret -}}
{{- fail "crypto-gaf: set externalDatabase.password or externalDatabase.existingSecret, not both" -}}
{{- end -}}
{{- $seen := dict -}}
{{- range .Values.api.products -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "crypto-gaf: product %s is listed twice in api.products" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- end -}}

{{- define "crypto-gaf.postgresql.fullname" -}}
{{- include "crypto-gaf.componentName" (dict "root" . "component" "postgresql") -}}
{{- end -}}

{{- define "crypto-gaf.postgresql.user" -}}
{{- .Values.postgresql.auth.username | default "postgres" -}}
{{- end -}}

{{- define "crypto-gaf.postgresql.secretName" -}}
{{- .Values.postgresql.auth.existingSecret | default (include "crypto-gaf.postgresql.fullname" .) -}}
{{- end -}}

{{/* The 2.x rule: "password" for a named user, "postgres-password" for the postgres user. */}}
{{- define "crypto-gaf.postgresql.secretKey" -}}
{{- ternary "password" "postgres-password" (not (empty .Values.postgresql.auth.username)) -}}
{{- end -}}

{{/* True when the chart itself holds the external database credentials (a URL or a password in values). */}}
{{- define "crypto-gaf.db.chartHoldsCredentials" -}}
{{- $mode := include "crypto-gaf.db.mode" . -}}
{{- $e := .Values.externalDatabase -}}
{{- if or (and (eq $mode "url") $e.url) (and (eq $mode "host") $e.password) -}}true{{- end -}}
{{- end -}}

{{/* The Secret the chart creates for external credentials held in values (Deployments read it). */}}
{{- define "crypto-gaf.db.secretName" -}}
{{- include "crypto-gaf.componentName" (dict "root" . "component" "db") -}}
{{- end -}}

{{/* Its twin created as a hook just before the migration Job (a pre-install hook runs before
     any regular object of the release exists, and a pre-upgrade hook must see the new values). */}}
{{- define "crypto-gaf.db.hookSecretName" -}}
{{- include "crypto-gaf.componentName" (dict "root" . "component" "migrate-db") -}}
{{- end -}}

{{/* The data of that Secret (both copies). */}}
{{- define "crypto-gaf.db.secretData" -}}
{{- $e := .Values.externalDatabase -}}
{{- if $e.url }}
database-url: {{ $e.url | b64enc | quote }}
{{- else }}
password: {{ $e.password | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* CGAF_DB_* / CGAF_DATABASE_URL; dict "root" $ "hook" bool. Passwords only through secretKeyRef. */}}
{{- define "crypto-gaf.db.env" -}}
{{- $root := .root -}}
{{- $mode := include "crypto-gaf.db.mode" $root -}}
{{- $e := $root.Values.externalDatabase -}}
{{- $own := ternary (include "crypto-gaf.db.hookSecretName" $root) (include "crypto-gaf.db.secretName" $root) (eq (toString .hook) "true") -}}
{{- if eq $mode "bundled" }}
{{- $pg := $root.Values.postgresql }}
- name: CGAF_DB_HOST
  value: {{ include "crypto-gaf.postgresql.fullname" $root | quote }}
- name: CGAF_DB_PORT
  value: {{ $pg.primary.service.ports.postgresql | toString | quote }}
- name: CGAF_DB_USER
  value: {{ include "crypto-gaf.postgresql.user" $root | quote }}
- name: CGAF_DB_NAME
  value: {{ $pg.auth.database | default "postgres" | quote }}
- name: CGAF_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "crypto-gaf.postgresql.secretName" $root }}
      key: {{ include "crypto-gaf.postgresql.secretKey" $root }}
{{- else if eq $mode "url" }}
- name: CGAF_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if $e.url }}
      name: {{ $own }}
      key: database-url
      {{- else }}
      name: {{ $e.existingSecret }}
      key: {{ $e.existingSecretUrlKey }}
      {{- end }}
{{- else if eq $mode "host" }}
- name: CGAF_DB_HOST
  value: {{ $e.host | quote }}
- name: CGAF_DB_PORT
  value: {{ $e.port | default 5432 | toString | quote }}
- name: CGAF_DB_USER
  value: {{ $e.user | default "postgres" | quote }}
- name: CGAF_DB_NAME
  value: {{ $e.database | default "postgres" | quote }}
{{- if $e.existingSecret }}
- name: CGAF_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $e.existingSecret }}
      key: {{ $e.existingSecretPasswordKey | default "password" }}
{{- else if $e.password }}
- name: CGAF_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $own }}
      key: password
{{- end }}
{{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------- cgaf containers */}}

{{- define "crypto-gaf.dataDir" -}}/var/lib/cgaf{{- end -}}

{{/* Settings every cgaf container shares: logging, traces and the data folder (an emptyDir). */}}
{{- define "crypto-gaf.commonEnv" -}}
- name: CGAF_LOG
  value: {{ .Values.logging.level | default "info" | quote }}
- name: CGAF_LOG_FORMAT
  value: {{ .Values.logging.format | default "json" | quote }}
{{- with (.Values.tracing).otlpEndpoint }}
- name: CGAF_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with (.Values.tracing).serviceName }}
- name: CGAF_OTLP_SERVICE_NAME
  value: {{ . | quote }}
{{- end }}
- name: CGAF_DATA_DIR
  value: {{ include "crypto-gaf.dataDir" . | quote }}
{{- end -}}

{{- define "crypto-gaf.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: {{ include "crypto-gaf.dataDir" . }}
{{- end -}}

{{- define "crypto-gaf.volumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
{{- end -}}

{{/* The init container of every cgaf pod: `cgaf migrate`, which waits up to migration.wait for
     the database (CGAF_MIGRATE_WAIT) and applies the schema. The server starts only after it
     succeeded, so no pod runs against a missing schema; on a fresh install with the bundled
     PostgreSQL the pods wait in Init until the database answers (if the wait runs out, the
     kubelet retries the init container). The migrations are idempotent and serialised by an
     advisory lock, so replicas and the hook Job may run them at the same time. */}}
{{- define "crypto-gaf.migrateInitContainer" -}}
- name: migrate
  image: {{ include "crypto-gaf.image" (dict "root" .root "image" .image) | quote }}
  imagePullPolicy: {{ include "crypto-gaf.imagePullPolicy" (dict "root" .root "image" .image) }}
  args:
    - migrate
  env:
    {{- include "crypto-gaf.migrateEnv" (dict "root" .root "hook" false) | nindent 4 }}
  securityContext:
    {{- include "crypto-gaf.securityContext" .securityContext | nindent 4 }}
  resources:
    {{- toYaml .root.Values.migration.resources | nindent 4 }}
  volumeMounts:
    {{- include "crypto-gaf.volumeMounts" .root | nindent 4 }}
{{- end -}}

{{/* Environment of `cgaf migrate` (Job and init containers); dict "root" $ "hook" bool. */}}
{{- define "crypto-gaf.migrateEnv" -}}
{{ include "crypto-gaf.commonEnv" .root }}
- name: CGAF_MIGRATE_WAIT
  value: {{ include "crypto-gaf.duration" (.root.Values.migration.wait | default "5m") | quote }}
{{ include "crypto-gaf.db.env" . | trim }}
{{- end -}}

{{/* Probes of a cgaf server container (named port "http"). */}}
{{- define "crypto-gaf.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* ---------------------------------------------------------------- worker settings */}}

{{- define "crypto-gaf.worker.roles" -}}
{{- $r := list -}}
{{- if .Values.collect.enabled -}}{{- $r = append $r "collect" -}}{{- end -}}
{{- if .Values.calculate.enabled -}}{{- $r = append $r "calculate" -}}{{- end -}}
{{- if (.Values.trade | default dict).enabled -}}{{- $r = append $r "trade" -}}{{- end -}}
{{- join "," $r -}}
{{- end -}}

{{/* api.products -> BTC-USD:600,ETH-USD:300 (entries without maxSize take CGAF_MAX_SIZE). */}}
{{- define "crypto-gaf.products" -}}
{{- $out := list -}}
{{- range .Values.api.products -}}
{{- if .maxSize -}}
{{- $out = append $out (printf "%s:%d" .name (int .maxSize)) -}}
{{- else -}}
{{- $out = append $out .name -}}
{{- end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* A duration for cgaf: numbers are seconds (2.x style: 0.25 -> 250ms, 10 -> 10s); strings pass through. */}}
{{- define "crypto-gaf.duration" -}}
{{- if kindIs "string" . -}}
{{- . -}}
{{- else -}}
{{- $ms := int (round (mulf . 1000) 0) -}}
{{- if eq (mod $ms 1000) 0 -}}
{{- printf "%ds" (div $ms 1000) -}}
{{- else -}}
{{- printf "%dms" $ms -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "crypto-gaf.collect.schedule" -}}
{{- .Values.collect.schedule | default (include "crypto-gaf.duration" (.Values.collect.sleepInterval | default 0.25)) -}}
{{- end -}}

{{- define "crypto-gaf.calculate.schedule" -}}
{{- .Values.calculate.schedule | default (include "crypto-gaf.duration" (.Values.calculate.sleepInterval | default 0.5)) -}}
{{- end -}}

{{/* collect.source, else coinbase-local when global.coinbase.host is set, else sim. */}}
{{- define "crypto-gaf.collect.source" -}}
{{- $cb := (.Values.global | default dict).coinbase | default dict -}}
{{- if .Values.collect.source -}}
{{- .Values.collect.source -}}
{{- else if $cb.host -}}
coinbase-local
{{- else -}}
sim
{{- end -}}
{{- end -}}

{{- define "crypto-gaf.collect.sourceUrl" -}}
{{- $cb := (.Values.global | default dict).coinbase | default dict -}}
{{- if .Values.collect.sourceUrl -}}
{{- .Values.collect.sourceUrl -}}
{{- else if and (eq (include "crypto-gaf.collect.source" .) "coinbase-local") $cb.host -}}
{{- $scheme := $cb.scheme | default "http" -}}
{{- if $cb.port -}}
{{- printf "%s://%s:%v" $scheme $cb.host $cb.port -}}
{{- else -}}
{{- printf "%s://%s" $scheme $cb.host -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The worker's pod settings: chart 2.x's collect.* / calculate.* win when set (collect first). */}}
{{- define "crypto-gaf.worker.podValue" -}}
{{- $v := .root.Values -}}
{{- $pick := coalesce (index $v.collect .key) (index $v.calculate .key) (index $v.worker .key) -}}
{{- with $pick }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{- /* "true" when the Grafana dashboard ConfigMaps are rendered: metrics.dashboards.enabled, or
       (when null) metrics.serviceMonitor.enabled. */ -}}
{{- define "crypto-gaf.dashboards.enabled" -}}
{{- $d := .Values.metrics.dashboards.enabled -}}
{{- if kindIs "invalid" $d }}{{ if .Values.metrics.serviceMonitor.enabled }}true{{ end }}{{ else if $d }}true{{ end -}}
{{- end -}}

{{- /* "true" when the PrometheusRule is rendered: metrics.prometheusRule.enabled, or (when null)
       metrics.serviceMonitor.enabled. */ -}}
{{- define "crypto-gaf.prometheusRule.enabled" -}}
{{- $r := .Values.metrics.prometheusRule.enabled -}}
{{- if kindIs "invalid" $r }}{{ if .Values.metrics.serviceMonitor.enabled }}true{{ end }}{{ else if $r }}true{{ end -}}
{{- end -}}

{{- /* The PromQL label matchers of this release's scrape targets: the jobs the ServiceMonitors
       make (one per Service: <fullname>-api, <fullname>-worker) in the release's namespace. */ -}}
{{- define "crypto-gaf.metrics.selector" -}}
{{- $api := include "crypto-gaf.componentName" (dict "root" . "component" "api") -}}
{{- $worker := include "crypto-gaf.componentName" (dict "root" . "component" "worker") -}}
job=~"{{ $api }}|{{ $worker }}", namespace="{{ .Release.Namespace }}"
{{- end -}}

{{- /* A Prometheus duration ("5m", "1h30m", "90s") in seconds, for comparisons in PromQL. */ -}}
{{- define "crypto-gaf.seconds" -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" . -1 -}}
{{- $n := regexFind "^[0-9]+" $part | atoi -}}
{{- $unit := regexReplaceAll "^[0-9]+" $part "" -}}
{{- $mult := get (dict "ms" 0 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000) $unit -}}
{{- $total = add $total (mul $n $mult) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* CGAF_PLUGIN_ARTIFACT_KEY of every pod that loads plugins (empty when sharing is off). */}}
{{- define "crypto-gaf.plugins.env" -}}
{{- $p := .Values.plugins | default dict -}}
{{- if $p.shareCompiled }}
- name: CGAF_PLUGIN_ARTIFACT_KEY
  valueFrom:
    secretKeyRef:
      {{- if $p.existingArtifactKeySecret }}
      name: {{ $p.existingArtifactKeySecret }}
      key: {{ $p.existingArtifactKeySecretKey | default "plugin-artifact-key" }}
      {{- else }}
      name: {{ include "crypto-gaf.componentName" (dict "root" . "component" "plugin-artifact-key") }}
      key: plugin-artifact-key
      {{- end }}
{{- end }}
{{- end -}}
