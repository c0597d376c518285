package fileupload

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub/auth"
)

// Azurite's development account, which UseDevelopmentStorage=true names.
// Its key is published in Azurite's README and opens nothing but a local
// emulator.
const (
	devAccountName = "devstoreaccount1"
	devAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devBlobPort    = "10000"
)

// ConfigError says which setting of the storage link is missing or wrong:
// a key of the connection string or a field of [Options]. It never holds
// the setting's value, which may be a key.
type ConfigError struct {
	// Field names the setting, as the connection string spells it
	// ("AccountKey") or as Options does ("Container").
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *ConfigError) Error() string { return "fileupload: " + e.Field + " " + e.Reason }

// Account is the storage account of a connection string: what the hub
// needs to sign SAS tokens and read blobs.
type Account struct {
	// Name is the account name, e.g. "devstoreaccount1".
	Name string
	// Key is the account key (base64).
	Key auth.Secret
	// Endpoint is the blob service endpoint without a trailing slash:
	// https://{Name}.blob.{EndpointSuffix} (account style), or a
	// BlobEndpoint such as Azurite's http://127.0.0.1:10000/devstoreaccount1
	// (path style, the account in the path).
	Endpoint *url.URL
}

// String describes the account without its key.
func (a Account) String() string {
	endpoint := ""
	if a.Endpoint != nil {
		endpoint = a.Endpoint.String()
	}
	return fmt.Sprintf("AccountName=%s;AccountKey=%s;BlobEndpoint=%s", a.Name, a.Key, endpoint)
}

// GoString is String, for %#v.
func (a Account) GoString() string { return "fileupload.Account(" + a.String() + ")" }

// Format prints String under every verb.
func (a Account) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(a.String())) }

// The connection string's settings, by their lower-cased names.
var settingNames = map[string]string{
	"defaultendpointsprotocol":   "DefaultEndpointsProtocol",
	"accountname":                "AccountName",
	"accountkey":                 "AccountKey",
	"endpointsuffix":             "EndpointSuffix",
	"blobendpoint":               "BlobEndpoint",
	"sharedaccesssignature":      "SharedAccessSignature",
	"usedevelopmentstorage":      "UseDevelopmentStorage",
	"developmentstorageproxyuri": "DevelopmentStorageProxyUri",
	// The other services' endpoints, which portal connection strings
	// carry and blob uploads do not use.
	"queueendpoint":          "QueueEndpoint",
	"tableendpoint":          "TableEndpoint",
	"fileendpoint":           "FileEndpoint",
	"blobsecondaryendpoint":  "BlobSecondaryEndpoint",
	"queuesecondaryendpoint": "QueueSecondaryEndpoint",
	"tablesecondaryendpoint": "TableSecondaryEndpoint",
	"filesecondaryendpoint":  "FileSecondaryEndpoint",
}

// ParseConnectionString reads a storage account connection string:
// AccountName and AccountKey with either a BlobEndpoint or the
// DefaultEndpointsProtocol (default https) and EndpointSuffix (default
// core.windows.net) to build https://{AccountName}.blob.{EndpointSuffix};
// or UseDevelopmentStorage=true for Azurite's development account on
// 127.0.0.1:10000 (or DevelopmentStorageProxyUri's host). Names are
// case-insensitive; other services' endpoints are ignored. A connection
// string with a SharedAccessSignature but no AccountKey is refused: the hub
// signs a SAS token for each upload with the key. Errors are
// *[ConfigError] and never show a value.
func ParseConnectionString(s string) (*Account, error) {
	settings := map[string]string{}
	for i, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, &ConfigError{Field: "connection string", Reason: fmt.Sprintf("part %d has no '=' (settings are Name=value, separated by ';')", i+1)}
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		canonical, known := settingNames[strings.ToLower(name)]
		if !known {
			return nil, &ConfigError{Field: "connection string", Reason: "has an unknown setting " + showName(name)}
		}
		if _, dup := settings[canonical]; dup {
			return nil, &ConfigError{Field: canonical, Reason: "appears twice"}
		}
		settings[canonical] = value
	}
	if v, ok := settings["UseDevelopmentStorage"]; ok {
		return developmentAccount(v, settings)
	}
	a := &Account{Name: settings["AccountName"]}
	if a.Name == "" {
		return nil, &ConfigError{Field: "AccountName", Reason: "is missing"}
	}
	if !isAccountName(a.Name) {
		return nil, &ConfigError{Field: "AccountName", Reason: "is not a storage account name (3 to 24 lowercase letters and digits)"}
	}
	key, err := accountKey(settings)
	if err != nil {
		return nil, err
	}
	a.Key = key
	if raw, ok := settings["BlobEndpoint"]; ok {
		if a.Endpoint, err = blobEndpoint("BlobEndpoint", raw); err != nil {
			return nil, err
		}
		return a, nil
	}
	scheme := "https"
	if v, ok := settings["DefaultEndpointsProtocol"]; ok {
		scheme = strings.ToLower(v)
		if scheme != "https" && scheme != "http" {
			return nil, &ConfigError{Field: "DefaultEndpointsProtocol", Reason: "must be https or http"}
		}
	}
	suffix := "core.windows.net"
	if v, ok := settings["EndpointSuffix"]; ok {
		suffix = v
		if !isDNSName(suffix) {
			return nil, &ConfigError{Field: "EndpointSuffix", Reason: "is not a DNS suffix such as core.windows.net"}
		}
	}
	a.Endpoint = &url.URL{Scheme: scheme, Host: a.Name + ".blob." + suffix}
	return a, nil
}

// developmentAccount is UseDevelopmentStorage=value's account.
func developmentAccount(value string, settings map[string]string) (*Account, error) {
	if !strings.EqualFold(value, "true") {
		return nil, &ConfigError{Field: "UseDevelopmentStorage", Reason: "must be true, or left out"}
	}
	for name := range settings {
		if name != "UseDevelopmentStorage" && name != "DevelopmentStorageProxyUri" {
			return nil, &ConfigError{Field: name, Reason: "cannot be combined with UseDevelopmentStorage=true, which names Azurite's development account"}
		}
	}
	host := "127.0.0.1"
	scheme := "http"
	if raw, ok := settings["DevelopmentStorageProxyUri"]; ok {
		proxy, err := blobEndpoint("DevelopmentStorageProxyUri", raw)
		if err != nil {
			return nil, err
		}
		scheme, host = proxy.Scheme, proxy.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return &Account{
		Name:     devAccountName,
		Key:      auth.NewSecret(devAccountKey),
		Endpoint: &url.URL{Scheme: scheme, Host: host + ":" + devBlobPort, Path: "/" + devAccountName},
	}, nil
}

// accountKey is AccountKey, checked.
func accountKey(settings map[string]string) (auth.Secret, error) {
	key, ok := settings["AccountKey"]
	switch {
	case key == "" && settings["SharedAccessSignature"] != "":
		return auth.Secret{}, &ConfigError{Field: "AccountKey", Reason: "is missing: the hub signs a SAS token for each upload with the account key, and a SharedAccessSignature cannot sign one"}
	case key == "" && ok:
		return auth.Secret{}, &ConfigError{Field: "AccountKey", Reason: "is empty"}
	case key == "":
		return auth.Secret{}, &ConfigError{Field: "AccountKey", Reason: "is missing"}
	}
	if _, err := base64.StdEncoding.DecodeString(key); err != nil {
		return auth.Secret{}, &ConfigError{Field: "AccountKey", Reason: "is not base64 (a storage account key is 88 base64 characters)"}
	}
	return auth.NewSecret(key), nil
}

// blobEndpoint parses an endpoint URL: http or https, a host, a path or
// none, and nothing else.
func blobEndpoint(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return nil, &ConfigError{Field: field, Reason: "must be an http or https URL such as https://account.blob.core.windows.net"}
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, &ConfigError{Field: field, Reason: "must be a URL without user, query or fragment (a SAS goes in SharedAccessSignature)"}
	}
	if !isHost(u.Host) {
		return nil, &ConfigError{Field: field, Reason: "has a host that is not a host name or IP address with an optional port"}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if strings.ContainsAny(u.Path, "?#") || strings.Contains(u.Path, "//") {
		return nil, &ConfigError{Field: field, Reason: "has a path that is not /{account}"}
	}
	return u, nil
}

// showName quotes a setting name that looks like one (up to 19 letters),
// and hides anything else, which may be a key pasted without its name.
func showName(name string) string {
	if name == "" || len(name) >= 20 {
		return "(not shown)"
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return "(not shown)"
		}
	}
	return fmt.Sprintf("%q", name)
}

// isAccountName reports whether s is a storage account name: 3 to 24
// lowercase letters and digits.
func isAccountName(s string) bool {
	if len(s) < 3 || len(s) > 24 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// isDNSName reports whether s is dot-separated labels of letters, digits
// and hyphens.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}

// isHost reports whether hostport is a DNS name or an IP address (IPv6 in
// brackets), with an optional port.
func isHost(hostport string) bool {
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		host = h
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	} else if strings.Contains(hostport, ":") {
		return false
	}
	if strings.Contains(host, ":") {
		return net.ParseIP(host) != nil
	}
	return net.ParseIP(host) != nil || isDNSName(host)
}
