package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bucketftp/bucketftp/charset"
	"github.com/bucketftp/bucketftp/ftp"
)

// config is everything `bucketftp serve` can be told. Each field is one
// option in the table built by options(): a flag, a BUCKETFTP_* variable
// and a key of the YAML --config file, in that order of precedence.
type config struct {
	ConfigFile string

	Listen       string
	Storage      string
	Users        string
	UsersPoll    time.Duration
	AuthOrder    string
	identity     // --auth-hook-* and --ldap-* (identity.go)
	PassivePorts string
	PublicHost   string
	Banner       string

	PassivePortsPerReplica int
	ReplicaOrdinal         int                    // -1: from the host name
	hostname               func() (string, error) // os.Hostname unless a test sets it

	IdleTimeout           time.Duration
	DataTimeout           time.Duration
	StallTimeout          time.Duration
	TempNamePatterns      string
	TempNameHold          time.Duration
	ResumeWindow          time.Duration
	LoginFailDelay        time.Duration
	ShutdownGrace         time.Duration
	MaxLoginFailures      int
	MaxConnections        int
	MaxConnectionsPerIP   int
	MaxLineLength         int
	AllowForeignDataPeers bool
	LoginTimeout          time.Duration
	BanAfter              int
	BanWindow             time.Duration
	BanDuration           time.Duration
	BanExempt             string
	SharedState           bool
	BanSync               time.Duration
	MaxPassivePerIP       int
	MaxQueuedCommands     int
	BandwidthUp           int
	BandwidthDown         int
	BandwidthPerAddress   int
	NameEncoding          string
	ASCII                 string
	ProxyProtocol         string
	ProxyProtocolData     string
	ProxyTrusted          string
	ProxyHeaderTimeout    time.Duration

	TLSCert           string
	TLSKey            string
	ImplicitTLSListen string
	TLSRequired       bool
	TLSDataRequired   bool
	TLSStrictEOF      bool
	TLSSessionReuse   string

	MetricsListen string
	Xferlog       string

	Checksums    string // --checksums: cmd/bucketftp/checksums.go
	HashMaxBytes int

	eventsConfig // --events-*: cmd/bucketftp/events.go

	LogLevel  string
	LogFormat string
}

// option describes one setting. The same table parses flags, the
// environment and the file, and writes docs/configuration.md.
type option struct {
	name  string // flag name; env is BUCKETFTP_ + upper snake; file key is snake
	value flag.Value
	def   string
	help  string
	noKey bool // flag and env only (e.g. --config itself)
}

func (o option) env() string {
	return "BUCKETFTP_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

func (o option) key() string { return strings.ReplaceAll(o.name, "-", "_") }

func options(c *config) []option {
	return []option{
		{name: "config", value: (*stringValue)(&c.ConfigFile), help: "YAML file with any of the settings below (keys in snake_case).", noKey: true},
		{name: "listen", value: (*stringValue)(&c.Listen), def: ":2121", help: "Address of the FTP control port."},
		{name: "storage", value: (*stringValue)(&c.Storage), def: "file://./data", help: "Where files live: file:///path (a local directory), mem:// (memory, for tests and demos) or s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path_style=true (tuning keys: part_size, concurrency, memory_budget, download_concurrency, copy_part_size, timeout, stale_upload_age, resume_window; see docs/s3.md)."},
		{name: "users", value: (*stringValue)(&c.Users), help: "Users file (YAML): a path, or s3://BUCKET/KEY?endpoint=URL&region=R&path_style=true for an object in a bucket (the keys, credentials and AWS_CA_BUNDLE of --storage; every replica reads the same users). Reloaded when its content changes (a rewritten or renamed file, a Kubernetes Secret or ConfigMap update, a new object ETag: checked every --users-poll) and on SIGHUP; a broken new version keeps the previous users and is logged. Without it: one user from BUCKETFTP_USER and BUCKETFTP_PASSWORD, or a generated password and loopback only; with --ldap-url or --auth-hook, no users file user."},
		{name: "users-poll", value: (*durationValue)(&c.UsersPoll), def: "10s", help: "How often --users is checked for a new version (a hash of the file, the object's ETag with If-None-Match); 0: only on SIGHUP."},
		{name: "auth-order", value: (*stringValue)(&c.AuthOrder), def: "file,ldap,hook", help: "Order in which the identity sources are asked (docs/identity.md): file (--users), ldap (--ldap-url), hook (--auth-hook); sources not configured are skipped, configured ones must be named. A user unknown to a source is asked of the next; a user a source knows is decided there (a wrong password is refused, never tried on the next source)."},
		{name: "auth-hook", value: (*stringValue)(&c.AuthHook), help: "URL of an HTTP auth hook: each login not decided by an earlier source is POSTed to it as JSON (user, password, client address, protocol, tls) and it answers accept with the user's settings (the users file's fields), reject or unknown (docs/identity.md). A hook that is down, slow or answers anything else refuses the login with 421. Use https:// unless it is on the same host."},
		{name: "auth-hook-timeout", value: (*durationValue)(&c.AuthHookTimeout), def: "5s", help: "Time a hook call may take; then the login is refused (421)."},
		{name: "auth-hook-cache", value: (*durationValue)(&c.AuthHookCache), def: "1m", help: "How long an accepting answer is reused for the same user, client address, connection kind and password (kept as an HMAC under a per-process key, never in clear); 0: ask at every login."},
		{name: "auth-hook-negative-cache", value: (*durationValue)(&c.AuthHookNegativeCache), def: "10s", help: "How long a reject or unknown answer is reused, likewise; 0: ask at every login. Failures (421) are never cached."},
		{name: "auth-hook-ca", value: (*stringValue)(&c.AuthHookCA), help: "PEM file of CA certificates trusted for an https:// hook besides the system's."},
		{name: "ldap-url", value: (*stringValue)(&c.LDAPURL), help: "LDAP or Active Directory server, ldap://HOST[:PORT] or ldaps://HOST[:PORT]: each login not decided by an earlier source is searched under --ldap-base-dn and checked by binding as the entry found with the login's password (docs/identity.md)."},
		{name: "ldap-start-tls", value: (*boolValue)(&c.LDAPStartTLS), def: "false", help: "Upgrade an ldap:// connection with StartTLS before anything is sent (the certificate is verified)."},
		{name: "ldap-ca", value: (*stringValue)(&c.LDAPCA), help: "PEM file of CA certificates trusted for ldaps:// or StartTLS besides the system's."},
		{name: "ldap-bind-dn", value: (*stringValue)(&c.LDAPBindDN), help: "DN of the service account that searches users (its password in BUCKETFTP_LDAP_BIND_PASSWORD or --ldap-bind-password-file); empty: anonymous search."},
		{name: "ldap-bind-password-file", value: (*stringValue)(&c.LDAPBindPasswordFile), help: "File holding the service account's password (one line; a Kubernetes Secret volume, for instance). The password is never logged."},
		{name: "ldap-base-dn", value: (*stringValue)(&c.LDAPBaseDN), help: "Where users are searched (the whole subtree), e.g. ou=people,dc=example,dc=org (required with --ldap-url)."},
		{name: "ldap-user-attribute", value: (*stringValue)(&c.LDAPUserAttribute), def: "uid", help: "Attribute holding the login name: uid (OpenLDAP), sAMAccountName (Active Directory). The entry's spelling is the account's name, so logins differing only in case are one user."},
		{name: "ldap-user-filter", value: (*stringValue)(&c.LDAPUserFilter), help: "Filter that finds the user, {user} being the login name escaped for a filter, e.g. (&(objectClass=person)(sAMAccountName={user})); default (ATTRIBUTE={user}) with --ldap-user-attribute. No match: the next source is asked; more than one: refused."},
		{name: "ldap-home-attribute", value: (*stringValue)(&c.LDAPHomeAttribute), help: "Attribute holding the user's home (e.g. homeDirectory); when empty or missing on the entry, --ldap-home."},
		{name: "ldap-home", value: (*stringValue)(&c.LDAPHome), def: "/{user}", help: "Home template, {user} being the user's name, e.g. /partners/{user}."},
		{name: "ldap-quota-attribute", value: (*stringValue)(&c.LDAPQuotaAttribute), help: "Attribute holding the user's quota in bytes (quota_bytes); empty or missing: no quota."},
		{name: "ldap-group-permissions", value: (*stringValue)(&c.LDAPGroupPermissions), help: "Permissions by group, GROUP-DN=perm,perm;GROUP-DN=perm (each DN split from its permissions at its last =), e.g. cn=ftp-rw,ou=groups,dc=example,dc=org=list,read,write,mkdir;cn=ftp-ro,ou=groups,dc=example,dc=org=list,read. A user gets those of every group they are in; one in none gets --ldap-default-permissions, or is refused without it. Empty: every user gets --ldap-default-permissions (default all)."},
		{name: "ldap-group-filter", value: (*stringValue)(&c.LDAPGroupFilter), help: "Filter finding the user's groups under --ldap-group-base-dn, {dn} being the user's DN and {user} their name, e.g. (&(objectClass=groupOfNames)(member={dn})); empty: the user entry's memberOf (Active Directory, OpenLDAP's memberof overlay)."},
		{name: "ldap-group-base-dn", value: (*stringValue)(&c.LDAPGroupBaseDN), help: "Where --ldap-group-filter searches; default --ldap-base-dn."},
		{name: "ldap-default-permissions", value: (*stringValue)(&c.LDAPDefaultPermissions), help: "Comma-separated permissions of a user in no group of --ldap-group-permissions (list, read, write, overwrite, delete, rename, mkdir)."},
		{name: "ldap-timeout", value: (*durationValue)(&c.LDAPTimeout), def: "5s", help: "Time allowed for connecting and for each LDAP request; past it the login is refused (421)."},
		{name: "passive-ports", value: (*stringValue)(&c.PassivePorts), help: "Passive data port range LO-HI (e.g. 30000-30099); empty lets the system choose."},
		{name: "public-host", value: (*stringValue)(&c.PublicHost), help: "IPv4 address or host name advertised in PASV replies (the address clients reach, e.g. a load balancer's), or from-proxy: the destination address of the control connection's PROXY header. {ordinal} in it is replaced by the replica's ordinal (ftp-{ordinal}.example.com: one address per replica, see --replica-ordinal)."},
		{name: "passive-ports-per-replica", value: (*intValue)(&c.PassivePortsPerReplica), help: "Split --passive-ports between the replicas of a StatefulSet: replica N uses the N-th slice of this many ports (30000-30299 with 100: replica 0 uses 30000-30099, replica 1 30100-30199, replica 2 30200-30299), so a balancer can route each data port to the replica that handed it out (docs/kubernetes.md). The slice must fit in the range. Empty or 0: the whole range."},
		{name: "replica-ordinal", value: (*ordinalValue)(&c.ReplicaOrdinal), def: "-1", help: "This replica's number, for --passive-ports-per-replica and {ordinal} in --public-host. -1: taken from a host name ending in -N (a StatefulSet pod's, e.g. bucketftp-2); without such a host name it is 0, or an error when --passive-ports-per-replica or {ordinal} needs it."},
		{name: "banner", value: (*stringValue)(&c.Banner), def: "bucketftp ready.", help: "Text of the 220 greeting."},
		{name: "idle-timeout", value: (*durationValue)(&c.IdleTimeout), def: "5m", help: "Close a control connection idle this long (421); not counted while a transfer runs."},
		{name: "data-timeout", value: (*durationValue)(&c.DataTimeout), def: "30s", help: "Time allowed to open a data connection (then 425)."},
		{name: "stall-timeout", value: (*durationValue)(&c.StallTimeout), def: "5m", help: "Cut a transfer whose data connection makes no progress this long (426)."},
		{name: "temp-name-patterns", value: (*stringValue)(&c.TempNamePatterns), def: ".in.*,*.part,*.filepart,*.tmp,*.partial", help: "Comma-separated upload names held back until the session renames them (\"*\" is the final name): on S3 the rename then costs no copy, and nobody else sees the temp name. Empty: none."},
		{name: "resume-window", value: (*durationValue)(&c.ResumeWindow), def: "24h", help: "An upload whose client went away (broken or stalled data connection, closed control connection, ABOR, shutdown) keeps what it stored this long, invisible to everyone but its owner, who continues it with REST + STOR or APPE (curl -C -, lftp reput, FileZilla and WinSCP resume): with S3 storage its whole parts, from any replica; in a local directory every byte written, across restarts. Then it is discarded. Negative: interrupted uploads are discarded at once. It applies to users' own storages too; an S3 storage URL's resume_window key overrides it for that storage."},
		{name: "temp-name-hold", value: (*durationValue)(&c.TempNameHold), def: "5m", help: "How long a held temp-name upload waits for its rename; then, or when the session ends, it is stored under the temp name."},
		{name: "login-fail-delay", value: (*durationValue)(&c.LoginFailDelay), def: "1s", help: "Delay before answering a failed login, multiplied by the number of failures so far (on the connection, or of the user name from every address, whichever is more; at most 10 times). 0: none (failures still count toward bans)."},
		{name: "shutdown-grace", value: (*durationValue)(&c.ShutdownGrace), def: "30s", help: "On SIGTERM, how long running transfers may take to finish before they are aborted."},
		{name: "max-login-failures", value: (*intValue)(&c.MaxLoginFailures), def: "3", help: "Failed logins on one connection before it is closed (421)."},
		{name: "max-connections", value: (*intValue)(&c.MaxConnections), def: "500", help: "Control connections served at once (more get 421)."},
		{name: "max-connections-per-ip", value: (*intValue)(&c.MaxConnectionsPerIP), def: "200", help: "Control connections from one address at once (more get 421). Behind a load balancer every client has the balancer's address unless the client's address reaches bucketftp (PROXY protocol, or externalTrafficPolicy: Local on Kubernetes): then this limit is for all clients together."},
		{name: "login-timeout", value: (*durationValue)(&c.LoginTimeout), def: "60s", help: "Close a connection that has not logged in this long after connecting (421); commands before login do not extend it."},
		{name: "ban-after", value: (*intValue)(&c.BanAfter), def: "10", help: "Failed logins from one address within --ban-window that ban it: new connections get 421 for --ban-duration. 0 or less: no bans."},
		{name: "ban-window", value: (*durationValue)(&c.BanWindow), def: "10m", help: "Window in which --ban-after failures ban an address; failed logins of one user name from any address in it slow that name's logins."},
		{name: "ban-duration", value: (*durationValue)(&c.BanDuration), def: "15m", help: "First ban of an address; each further ban within a day doubles it, up to 24h."},
		{name: "ban-exempt", value: (*stringValue)(&c.BanExempt), help: "Comma-separated CIDRs never banned (e.g. a monitoring host)."},
		{name: "shared-state", value: (*boolValue)(&c.SharedState), def: "true", help: "With S3 storage, keep quota usage, bans and failed-login counts in the bucket (under PREFIX/.bucketftp/) so that every replica on the bucket shares them: parallel uploads through different replicas stop at the quota, and an address banned by one replica is refused by all within --ban-sync. Off: each process counts on its own."},
		{name: "ban-sync", value: (*durationValue)(&c.BanSync), def: "5s", help: "How often a replica publishes its bans and failed-login counts to the bucket and reads the other replicas' (with --shared-state); a new ban is published at once."},
		{name: "max-passive-per-ip", value: (*intValue)(&c.MaxPassivePerIP), def: "8", help: "Passive listeners one client address may hold open at once, so one address cannot take the whole passive range: a PASV/EPSV beyond it waits up to --data-timeout for one of them to close (a listener lives until the client connects), then gets 425."},
		{name: "max-queued-commands", value: (*intValue)(&c.MaxQueuedCommands), def: "64", help: "Commands a client may send during a transfer without waiting (at most 64 KiB in all); past that the session gets 421 and is closed. ABOR and STAT act at once."},
		{name: "bandwidth-up", value: (*intValue)(&c.BandwidthUp), def: "0", help: "Each user's upload limit in bytes per second, shared by all their sessions (one token bucket per user), unless their bandwidth_up in the users file says otherwise; 0: none. Throttled transfers still finish, ABOR stops them at once, and waiting for the limit never counts towards --stall-timeout or --idle-timeout."},
		{name: "bandwidth-down", value: (*intValue)(&c.BandwidthDown), def: "0", help: "Each user's download limit (RETR and listings) in bytes per second, shared by all their sessions, unless their bandwidth_down says otherwise; 0: none."},
		{name: "bandwidth-per-address", value: (*intValue)(&c.BandwidthPerAddress), def: "0", help: "A further limit in bytes per second, in each direction, shared by all sessions from one client address whoever they log in as (behind a PROXY-protocol balancer: the client's address); 0: none."},
		{name: "proxy-protocol", value: (*stringValue)(&c.ProxyProtocol), def: "off", help: "off, optional or required: whether control connections (plain and implicit TLS) from --proxy-trusted addresses start with a PROXY protocol header (v1 or v2) naming the real client, as HAProxy's send-proxy and cloud load balancers send. The client's address is then the header's everywhere: allow lists, limits, bans, the passive peer check, logs. required refuses a trusted source's connection without one; a header from any other address is refused."},
		{name: "proxy-protocol-data", value: (*stringValue)(&c.ProxyProtocolData), help: "The same for passive data connections; default: as --proxy-protocol. A header on a data connection is taken off, never stored."},
		{name: "proxy-trusted", value: (*stringValue)(&c.ProxyTrusted), help: "Comma-separated CIDRs of the load balancers allowed to send PROXY headers (required with --proxy-protocol)."},
		{name: "proxy-header-timeout", value: (*durationValue)(&c.ProxyHeaderTimeout), def: "3s", help: "Time a trusted source has to send its PROXY header."},
		{name: "name-encoding", value: (*stringValue)(&c.NameEncoding), def: "utf-8", help: "Character set clients send file names in, unless their user sets name_encoding or they send OPTS UTF8 ON: utf-8, gbk, gb18030, big5, shift_jis, euc-jp, euc-kr, windows-1252, iso-8859-1, iso-8859-15, windows-1251 or koi8-r. Names are stored as UTF-8."},
		{name: "ascii", value: (*stringValue)(&c.ASCII), def: "convert", help: "What TYPE A does: convert (line endings, RFC 959) or binary (accept TYPE A but send bytes unchanged, as vsftpd does, for drops whose clients default to ASCII). Per user: ascii in the users file."},
		{name: "max-line-length", value: (*intValue)(&c.MaxLineLength), def: "4096", help: "Longest command line accepted (longer ones get 500)."},
		{name: "allow-foreign-data-peers", value: (*boolValue)(&c.AllowForeignDataPeers), def: "false", help: "Accept passive data connections from addresses other than the control connection's (clients behind NAT pools). Off protects against port stealing."},
		{name: "tls-cert", value: (*stringValue)(&c.TLSCert), help: "PEM certificate (chain) for FTPS; reloaded when the file changes. Enables AUTH TLS."},
		{name: "tls-key", value: (*stringValue)(&c.TLSKey), help: "PEM private key for --tls-cert."},
		{name: "implicit-tls-listen", value: (*stringValue)(&c.ImplicitTLSListen), help: "Address for implicit FTPS (TLS from the first byte, usually port 990); empty: off."},
		{name: "tls-required", value: (*boolValue)(&c.TLSRequired), def: "false", help: "Refuse logins without TLS (530 to USER before AUTH TLS). Per user: require_tls in the users file."},
		{name: "tls-data-required", value: (*boolValue)(&c.TLSDataRequired), def: "false", help: "Refuse PROT C and clear data connections (534, 521)."},
		{name: "tls-strict-eof", value: (*boolValue)(&c.TLSStrictEOF), def: "false", help: "Take an upload over a TLS data connection that ends without the client's close_notify (a bare TCP close, which anyone on the path can forge) for cut off: 426, kept for resuming, nothing published. Off, it is stored and the end is logged. As vsftpd's strict_ssl_read_eof."},
		{name: "tls-session-reuse", value: (*stringValue)(&c.TLSSessionReuse), def: "allow", help: "off, allow or require: whether PROT P data connections must resume the control connection's TLS session (require refuses others with 522)."},
		{name: "metrics-listen", value: (*stringValue)(&c.MetricsListen), help: "Address for Prometheus /metrics, /healthz (alive) and /readyz (accepting, storage answering); empty: off."},
		{name: "xferlog", value: (*stringValue)(&c.Xferlog), help: "File to append a classic xferlog line to for every file transfer (the format wu-ftpd, ProFTPD and vsftpd write); empty: off."},
		{name: "events-webhook", value: (*stringValue)(&c.EventsWebhook), help: "URL to POST upload, rename, delete and directory events to (CloudEvents 1.0, structured JSON, signed with --events-secret; any 2xx is delivered; docs/events.md). Events are written to an outbox before the reply (in the bucket under PREFIX/.bucketftp/events/, or --events-dir for local storage) and delivered at least once, with retries, by any replica. Empty: no webhook."},
		{name: "events-secret", value: (*stringValue)(&c.EventsSecret), help: "Shared secret of --events-webhook: each request carries X-Bucketftp-Signature: sha256=HMAC-SHA256(secret, body) in hex. Prefer the environment variable to a flag."},
		{name: "events-nats", value: (*stringValue)(&c.EventsNATS), help: "NATS server URL(s) (nats://host:4222, comma-separated) to publish events to JetStream instead of a webhook, each acknowledged by the stream, with Nats-Msg-Id the event id (the stream drops repeats within its duplicate window). Empty: no NATS."},
		{name: "events-nats-subject", value: (*stringValue)(&c.EventsNATSSubject), def: "bucketftp.events", help: "Subject prefix of --events-nats: an event goes to PREFIX.TYPE (bucketftp.events.upload.completed); a stream must capture PREFIX.>."},
		{name: "events-dir", value: (*stringValue)(&c.EventsDir), help: "Outbox directory for events when --storage is file:// or mem:// (outside the storage root); with s3:// the outbox is in the bucket."},
		{name: "events-max-age", value: (*durationValue)(&c.EventsMaxAge), def: "24h", help: "An event not delivered this long after it happened is moved to the dead letters (.bucketftp/events/dead/) and logged."},
		{name: "events-timeout", value: (*durationValue)(&c.EventsTimeout), def: "10s", help: "Time one delivery attempt may take; failures are retried after 1s, doubling up to 5m, with jitter."},
		{name: "events-required", value: (*boolValue)(&c.EventsRequired), def: "false", help: "When an event cannot be written to the outbox, answer 451 (\"Upload stored but its event was not recorded.\"; the file is stored) instead of logging it, counting it in bucketftp_events_record_errors_total and answering as usual."},
		{name: "events-login-failed", value: (*boolValue)(&c.EventsLoginFailed), def: "false", help: "Also send an event for each failed login (user name tried, client address; never the password)."},
		{name: "checksums", value: (*stringValue)(&c.Checksums), def: "sha256,crc32", help: "Checksums computed while each upload streams in, comma-separated: sha256 (always), crc32, md5, sha1, sha512; none computes none (for measurements). The store records them with the file (S3: its own CRC32, x-amz-meta-bucketftp-* metadata or object tags, docs/s3.md), and HASH, XSHA256, XSHA1, XSHA512, XMD5 and XCRC answer from them without reading the file."},
		{name: "hash-max-bytes", value: (*intValue)(&c.HashMaxBytes), def: "1073741824", help: "Largest file HASH and the X commands read to compute a checksum that was not recorded (a file written by another S3 client, or by APPE or REST+STOR); larger ones get 550."},
		{name: "log-level", value: (*stringValue)(&c.LogLevel), def: "info", help: "debug, info, warn or error. debug logs the command transcript (passwords masked)."},
		{name: "log-format", value: (*stringValue)(&c.LogFormat), def: "text", help: "text or json."},
	}
}

var errHelp = errors.New("help requested")

// loadConfig applies, lowest precedence first: defaults, the --config file,
// BUCKETFTP_* variables, flags.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	opts := options(c)
	byName := map[string]option{}
	for _, o := range opts {
		byName[o.name] = o
		if o.def != "" {
			if err := o.value.Set(o.def); err != nil {
				panic(fmt.Sprintf("bad default for %s: %v", o.name, err))
			}
		}
	}

	// Flags are parsed first (they name the config file) but applied last.
	given, err := parseFlags(opts, args, stderr)
	if err != nil {
		return nil, err
	}

	var errs []error
	set := func(o option, v, from string) {
		if err := o.value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
	}
	file := given["config"]
	if file == "" {
		file = getenv(byName["config"].env())
	}
	if file != "" {
		vals, err := readConfigFile(file)
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			if v, ok := vals[o.key()]; ok && !o.noKey {
				set(o, v, "config file key "+o.key())
				delete(vals, o.key())
			}
		}
		for k := range vals {
			errs = append(errs, fmt.Errorf("config file: unknown key %q", k))
		}
	}
	for _, o := range opts {
		if v := getenv(o.env()); v != "" {
			set(o, v, "environment variable "+o.env())
		}
	}
	for _, o := range opts {
		if v, ok := given[o.name]; ok {
			set(o, v, "flag --"+o.name)
		}
	}
	return c, errors.Join(errs...)
}

// parseFlags parses args against the option table and returns the value
// given for each flag named, unapplied.
func parseFlags(opts []option, args []string, stderr io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	given := map[string]string{}
	for _, o := range opts {
		record := func(v string) error {
			given[o.name] = v
			return nil
		}
		if _, isBool := o.value.(*boolValue); isBool {
			fs.BoolFunc(o.name, o.help+defaultNote(o), record) // --flag alone means true
		} else {
			fs.Func(o.name, o.help+defaultNote(o), record)
		}
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bucketftp serve [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return given, nil
}

func defaultNote(o option) string {
	if o.def == "" {
		return ""
	}
	return " (default " + o.def + ")"
}

func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	vals := map[string]string{}
	for k, v := range raw {
		switch v.(type) {
		case map[string]any, []any:
			return nil, fmt.Errorf("config file %s: key %q must be a single value", path, k)
		}
		vals[k] = fmt.Sprint(v)
	}
	return vals, nil
}

// Validate reports every problem with c that can be found without opening
// anything (no file, socket or store is touched), joined into one error, so
// that serve fails before any listener opens and a user fixes all of them in
// one go.
func (c *config) Validate() error {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	check(checkAddr("listen", c.Listen))
	for _, a := range []struct{ flag, addr string }{{"implicit-tls-listen", c.ImplicitTLSListen}, {"metrics-listen", c.MetricsListen}} {
		if a.addr != "" {
			check(checkAddr(a.flag, a.addr))
		}
	}
	_, err := replica(c) // the passive range, this replica's slice and public host
	check(err)
	_, err = parseStorage(c.Storage)
	check(err)
	_, err = newLogger(c, io.Discard)
	check(err)
	_, err = banPolicy(c)
	check(err)
	_, _, _, err = proxySettings(c)
	check(err)
	if _, err := charset.Canonical(c.NameEncoding); err != nil {
		check(fmt.Errorf("--name-encoding: %w", err))
	}
	if c.ASCII != "convert" && c.ASCII != "binary" {
		check(fmt.Errorf("--ascii %q: must be convert or binary", c.ASCII))
	}
	errs = append(errs, c.tlsProblems()...)
	errs = append(errs, c.eventsProblems()...)
	errs = append(errs, c.tempNameProblems()...)
	errs = append(errs, c.identityProblems()...)
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"idle-timeout", c.IdleTimeout}, {"data-timeout", c.DataTimeout}, {"stall-timeout", c.StallTimeout},
		{"login-fail-delay", c.LoginFailDelay}, {"shutdown-grace", c.ShutdownGrace}, {"login-timeout", c.LoginTimeout},
		{"ban-window", c.BanWindow}, {"ban-duration", c.BanDuration}, {"proxy-header-timeout", c.ProxyHeaderTimeout}, {"ban-sync", c.BanSync}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("--%s %v: must not be negative", d.flag, d.v))
		}
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"max-login-failures", c.MaxLoginFailures}, {"max-connections", c.MaxConnections}, {"max-connections-per-ip", c.MaxConnectionsPerIP},
		{"max-line-length", c.MaxLineLength}, {"max-passive-per-ip", c.MaxPassivePerIP}, {"max-queued-commands", c.MaxQueuedCommands}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("--%s %d: must not be negative", n.flag, n.v))
		}
	}
	if c.MaxLineLength > 0 && c.MaxLineLength < 512 {
		errs = append(errs, fmt.Errorf("--max-line-length %d: must be at least 512", c.MaxLineLength))
	}
	return errors.Join(errs...)
}

// tlsProblems checks the FTPS options: the certificate and key go together,
// and every option that needs TLS has them.
func (c *config) tlsProblems() []error {
	var errs []error
	if _, err := ftp.ParseSessionReuse(c.TLSSessionReuse); err != nil {
		errs = append(errs, fmt.Errorf("--tls-session-reuse: %w", err))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.TLSCert != "" && c.TLSKey != "" {
		return errs
	}
	for _, o := range []struct {
		flag string
		on   bool
	}{{"implicit-tls-listen", c.ImplicitTLSListen != ""}, {"tls-required", c.TLSRequired}, {"tls-data-required", c.TLSDataRequired}, {"tls-strict-eof", c.TLSStrictEOF}} {
		if o.on {
			errs = append(errs, fmt.Errorf("--%s needs --tls-cert and --tls-key", o.flag))
		}
	}
	return errs
}

// checkAddr checks that addr is a host:port a listener could bind (the
// host is not resolved).
func checkAddr(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("--%s %q: %w", flag, addr, err)
	}
	return nil
}

// passiveRange parses "LO-HI".
func passiveRange(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("passive ports %q: want LO-HI within 1-65535", s)
	}
	return lo, hi, nil
}

// configMarkdown renders the option table; docs/configuration.md is its
// output and a test keeps the two equal.
func configMarkdown() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated by `bucketftp config-doc` from the option table in `cmd/bucketftp/config.go`; a test fails when this file and the code differ.\n\n")
	b.WriteString("Every setting of `bucketftp serve` can be given as a flag, as an environment variable, or as a key in the YAML file named by `--config`. ")
	b.WriteString("A flag beats the environment, which beats the file, which beats the default. Durations are Go durations (`90s`, `5m`, `1h30m`).\n\n")
	b.WriteString("| flag | environment | file key | default | meaning |\n|---|---|---|---|---|\n")
	opts := options(&config{})
	for _, o := range opts {
		key := "`" + o.key() + "`"
		if o.noKey {
			key = "—"
		}
		def := "—"
		if o.def != "" {
			def = "`" + o.def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s | %s |\n", o.name, o.env(), key, def, o.help)
	}
	b.WriteString("\nWithout `--users`, these variables define the single user:\n\n")
	b.WriteString("| environment | meaning |\n|---|---|\n")
	b.WriteString("| `BUCKETFTP_USER` | user name (default `bucketftp`) |\n")
	b.WriteString("| `BUCKETFTP_PASSWORD` | its password; when unset, a random one is printed once at startup and the server listens on loopback only |\n")
	b.WriteString("\nWith `--ldap-url` or `--auth-hook` and no `--users`, only those sources log users in. The LDAP service account's password, unless `--ldap-bind-password-file` is given:\n\n")
	b.WriteString("| environment | meaning |\n|---|---|\n")
	b.WriteString("| `BUCKETFTP_LDAP_BIND_PASSWORD` | password of `--ldap-bind-dn` (never logged) |\n")
	return b.String()
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	if n < 0 {
		return errors.New("must not be negative")
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

// ordinalValue is a replica number, or -1 for "from the host name".
type ordinalValue int

func (v *ordinalValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	if n < -1 {
		return errors.New("must be a replica number from 0, or -1 to take it from the host name")
	}
	*v = ordinalValue(n)
	return nil
}
func (v *ordinalValue) String() string { return strconv.Itoa(int(*v)) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	*v = boolValue(b)
	return err
}
func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }
