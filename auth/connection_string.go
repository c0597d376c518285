package auth

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ConnectionString is a parsed connection string of an IoT Hub shared access
// policy, or of the hub's Event Hub-compatible built-in endpoint. Its String
// method hides the key and the signature; printing a ConnectionString with
// any fmt verb does too.
type ConnectionString struct {
	// HostName is the hub's host name, possibly with a port
	// ("myhub.azure-devices.net", "127.0.0.1:40123"). For the Event Hub form
	// it is the host of Endpoint.
	HostName string
	// SharedAccessKeyName is the name of the shared access policy
	// ("iothubowner", "service"). Required with SharedAccessKey.
	SharedAccessKeyName string
	// SharedAccessKey is the policy's base64 key.
	SharedAccessKey Secret
	// SharedAccessSignature is a ready-made SAS token, given instead of a key.
	SharedAccessSignature Secret
	// Endpoint is the Event Hub-compatible endpoint, "sb://host/"; empty in
	// the IoT Hub form.
	Endpoint string
	// EntityPath is the Event Hub name of the built-in endpoint.
	EntityPath string
	// UseDevelopmentEmulator says to talk to a local emulator over plain TCP
	// (no TLS). [ParseConnectionString] only accepts it for loopback hosts.
	UseDevelopmentEmulator bool
}

// Canonical field names, as they are written by String.
const (
	fieldHostName               = "HostName"
	fieldSharedAccessKeyName    = "SharedAccessKeyName"
	fieldSharedAccessKey        = "SharedAccessKey"
	fieldSharedAccessSignature  = "SharedAccessSignature"
	fieldEndpoint               = "Endpoint"
	fieldEntityPath             = "EntityPath"
	fieldUseDevelopmentEmulator = "UseDevelopmentEmulator"
)

var connectionStringFields = [...]string{
	fieldHostName,
	fieldSharedAccessKeyName,
	fieldSharedAccessKey,
	fieldSharedAccessSignature,
	fieldEndpoint,
	fieldEntityPath,
	fieldUseDevelopmentEmulator,
}

// deviceFields belong to device (and module) connection strings, which the
// service side cannot use; they get an error that says so.
var deviceFields = [...]string{"DeviceId", "ModuleId", "GatewayHostName", "x509"}

// ParseConnectionString parses a connection string in one of these forms:
//
//	HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=<base64>
//	HostName=myhub.azure-devices.net;SharedAccessSignature=SharedAccessSignature sr=…&sig=…&se=…&skn=…
//	Endpoint=sb://ihsuprodxx.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=<base64>;EntityPath=myhub
//	HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=<base64>;UseDevelopmentEmulator=true
//
// Fields are separated by ";" and may come in any order; their names are
// matched without regard to case; whitespace around names and values, empty
// fields and a trailing ";" are ignored. A value runs from the first "=" to
// the end of its field, so base64 keys keep their "=" padding.
//
// Rules, each broken rule a [*ConnectionStringError] naming the field:
//   - HostName or Endpoint (an sb:// URL) is required; with both, they must
//     name the same host. HostName may carry a port. For the Event Hub form
//     HostName is filled from Endpoint's host.
//   - Exactly one of SharedAccessKey (base64) and SharedAccessSignature (a
//     token [ParseSAS] accepts; it may have expired) is required.
//     SharedAccessKeyName is required with SharedAccessKey.
//   - UseDevelopmentEmulator is "true" or "false" and "true" is only accepted
//     for loopback hosts: localhost, 127.0.0.0/8 and ::1, with or without a
//     port ("[::1]:5671").
//   - A field may appear only once.
//   - Unknown fields are errors, so that a misspelt name is reported as such
//     rather than as a missing field or silently dropped. Device connection
//     strings (DeviceId=…) are refused with a message saying so. The name of
//     an unknown field is echoed only when it is a near miss of a known one
//     ("did you mean …"); otherwise the field is named by its position, since
//     a mangled string can put part of a key where a name should be.
//
// Errors never hold the value of SharedAccessKey or SharedAccessSignature.
func ParseConnectionString(s string) (*ConnectionString, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &ConnectionStringError{Problem: "is empty"}
	}
	var (
		cs   ConnectionString
		seen [len(connectionStringFields)]bool
	)
	position := 0
	for part := range strings.SplitSeq(s, ";") {
		position++
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, hasValue := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		index := connectionStringFieldIndex(name)
		if index < 0 {
			return nil, unknownFieldError(name, position)
		}
		field := connectionStringFields[index]
		if !hasValue {
			return nil, &ConnectionStringError{Field: field, Problem: `has no value (no "=")`}
		}
		if seen[index] {
			return nil, &ConnectionStringError{Field: field, Problem: "appears more than once"}
		}
		seen[index] = true
		if value == "" {
			return nil, &ConnectionStringError{Field: field, Problem: "is empty"}
		}
		switch field {
		case fieldHostName:
			cs.HostName = value
		case fieldSharedAccessKeyName:
			cs.SharedAccessKeyName = value
		case fieldSharedAccessKey:
			cs.SharedAccessKey = NewSecret(value)
		case fieldSharedAccessSignature:
			cs.SharedAccessSignature = NewSecret(value)
		case fieldEndpoint:
			cs.Endpoint = value
		case fieldEntityPath:
			cs.EntityPath = value
		case fieldUseDevelopmentEmulator:
			switch {
			case strings.EqualFold(value, "true"):
				cs.UseDevelopmentEmulator = true
			case strings.EqualFold(value, "false"):
				cs.UseDevelopmentEmulator = false
			default:
				return nil, &ConnectionStringError{Field: field, Problem: `is neither "true" nor "false"`}
			}
		}
	}
	if err := cs.validate(); err != nil {
		return nil, err
	}
	return &cs, nil
}

// validate checks the fields together, and fills HostName from Endpoint.
func (cs *ConnectionString) validate() error {
	if cs.Endpoint != "" {
		host, err := endpointHost(cs.Endpoint)
		if err != nil {
			return &ConnectionStringError{Field: fieldEndpoint, Problem: err.Error()}
		}
		switch {
		case cs.HostName == "":
			cs.HostName = host
		case !strings.EqualFold(cs.HostName, host):
			return &ConnectionStringError{Field: fieldEndpoint, Problem: "names another host than HostName"}
		}
	}
	if cs.HostName == "" {
		return &ConnectionStringError{Field: fieldHostName, Problem: "is missing (and there is no Endpoint)"}
	}
	if err := checkHost(cs.HostName); err != nil {
		return &ConnectionStringError{Field: fieldHostName, Problem: err.Error()}
	}

	switch {
	case !cs.SharedAccessKey.IsZero() && !cs.SharedAccessSignature.IsZero():
		return &ConnectionStringError{Field: fieldSharedAccessSignature, Problem: "cannot be given together with SharedAccessKey"}
	case !cs.SharedAccessKey.IsZero():
		if _, err := decodeKey(cs.SharedAccessKey.Reveal()); err != nil {
			return &ConnectionStringError{Field: fieldSharedAccessKey, Problem: err.Error()}
		}
		if cs.SharedAccessKeyName == "" {
			return &ConnectionStringError{Field: fieldSharedAccessKeyName, Problem: "is missing (it is required with SharedAccessKey)"}
		}
	case !cs.SharedAccessSignature.IsZero():
		if _, err := ParseSAS(cs.SharedAccessSignature.Reveal()); err != nil {
			return &ConnectionStringError{Field: fieldSharedAccessSignature, Problem: "is not a valid SAS token", Err: err}
		}
	default:
		return &ConnectionStringError{Field: fieldSharedAccessKey, Problem: "is missing (give SharedAccessKey or SharedAccessSignature)"}
	}

	if cs.UseDevelopmentEmulator && !isLoopback(cs.HostName) {
		return &ConnectionStringError{Field: fieldUseDevelopmentEmulator, Problem: "is only allowed for loopback hosts (localhost, 127.0.0.0/8, ::1)"}
	}
	return nil
}

func connectionStringFieldIndex(name string) int {
	for i, n := range connectionStringFields {
		if strings.EqualFold(name, n) {
			return i
		}
	}
	return -1
}

// unknownFieldError names an unknown field without risking to echo a secret.
func unknownFieldError(name string, position int) *ConnectionStringError {
	for _, f := range deviceFields {
		if strings.EqualFold(name, f) {
			return &ConnectionStringError{Field: f, Problem: "belongs to a device connection string; service clients need a shared access policy's (HostName, SharedAccessKeyName, SharedAccessKey)"}
		}
	}
	if guess := nearestField(name); guess != "" {
		return &ConnectionStringError{Field: name, Problem: "is not a known field (did you mean " + guess + "?)"}
	}
	return &ConnectionStringError{Field: "field " + strconv.Itoa(position), Problem: "(counting from 1) does not have a known name, which is not shown as it may be part of a key (known: " + strings.Join(connectionStringFields[:], ", ") + ")"}
}

// nearestField returns the known field name within a small edit distance of
// name, or "". Only such near misses are echoed in errors.
func nearestField(name string) string {
	if len(name) < 4 || len(name) > 32 {
		return ""
	}
	lower := strings.ToLower(name)
	for _, f := range connectionStringFields {
		if editDistance(lower, strings.ToLower(f)) <= 2 {
			return f
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// endpointHost returns the host (and port) of an Event Hub endpoint URL.
func endpointHost(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", problem("is not a valid URL")
	}
	if !strings.EqualFold(u.Scheme, "sb") {
		return "", problem(`is not an "sb://" URL`)
	}
	if u.Host == "" {
		return "", problem("has no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", problem(`is not of the form "sb://host/"`)
	}
	return u.Host, nil
}

// checkHost accepts "host", "host:port", "[ipv6]:port" and a bare IPv6
// address.
func checkHost(hostport string) error {
	if strings.Contains(hostport, "://") {
		return problem("is a URL; give the host name alone (myhub.azure-devices.net)")
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return err
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '-' {
			return problem("has an invalid port")
		}
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if !validDNSName(host) {
		return problem("is not a valid host name")
	}
	return nil
}

// splitHostPort splits hostport into host and optional port. Unlike
// [net.SplitHostPort] it accepts a missing port and a bare IPv6 address.
func splitHostPort(hostport string) (host, port string, err error) {
	switch {
	case strings.HasPrefix(hostport, "["):
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", problem(`has "[" without "]"`)
		}
		host, rest := hostport[1:end], hostport[end+1:]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", "", problem("has an invalid IPv6 address in brackets")
		}
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' || len(rest) == 1 {
			return "", "", problem("has an invalid port")
		}
		return host, rest[1:], nil
	case strings.Count(hostport, ":") > 1:
		if net.ParseIP(hostport) == nil {
			return "", "", problem("is not a valid host name")
		}
		return hostport, "", nil
	default:
		host, port, _ := strings.Cut(hostport, ":")
		if strings.Contains(hostport, ":") && port == "" {
			return "", "", problem("has an invalid port")
		}
		return host, port, nil
	}
}

// validDNSName accepts letters, digits, '-', '_' and '.' in non-empty labels.
func validDNSName(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isLoopback reports whether hostport names the local machine: localhost,
// 127.0.0.0/8 or ::1, with or without a port.
func isLoopback(hostport string) bool {
	host, _, err := splitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Credential returns the credential the connection string describes: a
// [*SharedAccessKeyCredential] when it has a SharedAccessKey (signing the
// Event Hubs way, with the key's text, for the Event Hub-compatible form);
// a [*SASCredential] when it has a SharedAccessSignature.
func (cs *ConnectionString) Credential() (Credential, error) {
	switch {
	case !cs.SharedAccessKey.IsZero() && cs.Endpoint != "":
		// The Event Hub-compatible form: Event Hubs signs with the key's text.
		return NewSharedAccessKeyCredential(cs.SharedAccessKeyName, cs.SharedAccessKey.Reveal(), &SharedAccessKeyCredentialOptions{SignWithKeyText: true})
	case !cs.SharedAccessKey.IsZero():
		return NewSharedAccessKeyCredential(cs.SharedAccessKeyName, cs.SharedAccessKey.Reveal(), nil)
	case !cs.SharedAccessSignature.IsZero():
		return NewSASCredential(cs.SharedAccessSignature.Reveal())
	default:
		return nil, &ConnectionStringError{Field: fieldSharedAccessKey, Problem: "is missing (give SharedAccessKey or SharedAccessSignature)"}
	}
}

// IsEventHub reports whether the connection string is the Event Hub-compatible
// form (Endpoint=sb://…), which reads telemetry from the built-in endpoint,
// rather than the IoT Hub form (HostName=…) that the hub's own APIs take.
func (cs *ConnectionString) IsEventHub() bool { return cs.Endpoint != "" }

// RequireIoTHub returns a [*ConnectionStringError] naming Endpoint when the
// connection string is the Event Hub-compatible form, saying which form is
// needed and where the other one is used; nil for the IoT Hub form.
func (cs *ConnectionString) RequireIoTHub() error {
	if !cs.IsEventHub() {
		return nil
	}
	return &ConnectionStringError{Field: fieldEndpoint, Problem: "makes this the Event Hub-compatible connection string of the hub's built-in endpoint, " +
		"which only reads telemetry (eventhub.NewConsumerFromConnectionString takes it); this client needs the hub's own: " +
		"HostName=<hub>.azure-devices.net;SharedAccessKeyName=<policy>;SharedAccessKey=<key> (portal: Shared access policies)"}
}

// NewCredentialFromConnectionString parses s with [ParseConnectionString]
// and returns its [ConnectionString.Credential].
func NewCredentialFromConnectionString(s string) (Credential, error) {
	cs, err := ParseConnectionString(s)
	if err != nil {
		return nil, err
	}
	return cs.Credential()
}

// String returns the connection string with SharedAccessKey and
// SharedAccessSignature replaced by "<redacted>", for logs. The Event Hub
// form is written with Endpoint and without HostName.
func (cs *ConnectionString) String() string {
	return cs.format(true)
}

// format writes the connection string in canonical field order; with redact,
// secrets are replaced by "<redacted>".
func (cs *ConnectionString) format(redact bool) string {
	var b strings.Builder
	add := func(name, value string) {
		if value == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	secret := func(v Secret) string {
		if redact && !v.IsZero() {
			return redacted
		}
		return v.Reveal()
	}
	if cs.Endpoint != "" {
		add(fieldEndpoint, cs.Endpoint)
	} else {
		add(fieldHostName, cs.HostName)
	}
	add(fieldSharedAccessKeyName, cs.SharedAccessKeyName)
	add(fieldSharedAccessKey, secret(cs.SharedAccessKey))
	add(fieldSharedAccessSignature, secret(cs.SharedAccessSignature))
	add(fieldEntityPath, cs.EntityPath)
	if cs.UseDevelopmentEmulator {
		add(fieldUseDevelopmentEmulator, "true")
	}
	return b.String()
}

// Format implements [fmt.Formatter] so that every verb, %#v and %+v
// included, prints [ConnectionString.String] and never a secret. It has a
// value receiver so that a ConnectionString printed by value is covered too.
func (cs ConnectionString) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(cs.String()))
}
