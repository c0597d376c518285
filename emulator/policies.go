package emulator

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// Rights are the permissions of a shared access policy, as bit flags.
type Rights uint8

// The permissions a shared access policy can grant.
const (
	// RegistryRead allows reading device and module identities and the
	// registry statistics.
	RegistryRead Rights = 1 << iota
	// RegistryWrite allows creating, updating and deleting identities.
	RegistryWrite
	// ServiceConnect allows the service-facing endpoints: twins (tags and
	// desired properties), queries, direct methods, cloud-to-device
	// messages, feedback and telemetry.
	ServiceConnect
	// DeviceConnect allows the device-facing endpoints.
	DeviceConnect

	// AllRights is every permission, as iothubowner has.
	AllRights = RegistryRead | RegistryWrite | ServiceConnect | DeviceConnect
)

var rightNames = []struct {
	r    Rights
	name string
}{{RegistryRead, "RegistryRead"}, {RegistryWrite, "RegistryWrite"}, {ServiceConnect, "ServiceConnect"}, {DeviceConnect, "DeviceConnect"}}

// String lists the rights the way the hub names them, comma-separated
// ("RegistryRead, RegistryWrite").
func (r Rights) String() string {
	var names []string
	for _, n := range rightNames {
		if r&n.r != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "None"
	}
	return strings.Join(names, ", ")
}

// Policy is a shared access policy of the emulated hub: a name, two keys
// and the rights that a token signed with either key grants.
type Policy struct {
	// Name is the policy's name (the SharedAccessKeyName of connection
	// strings, skn of tokens).
	Name string
	// PrimaryKey and SecondaryKey are base64 keys; either signs tokens.
	// Default: 32 random bytes each.
	PrimaryKey, SecondaryKey string
	// Rights are what the policy grants.
	Rights Rights
}

// String describes the policy without its keys.
func (p Policy) String() string {
	return fmt.Sprintf("%s (%s)", p.Name, p.Rights)
}

// Format implements [fmt.Formatter] so that every verb, %#v and %+v
// included, prints [Policy.String] and never a key.
func (p Policy) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(p.String())) }

// pointers returns pointers to copies of policies.
func pointers(policies []Policy) []*Policy {
	out := make([]*Policy, len(policies))
	for i := range policies {
		p := policies[i]
		out[i] = &p
	}
	return out
}

// DefaultPolicies returns the policies a new IoT hub has, without keys:
// iothubowner (all rights), service (ServiceConnect), device
// (DeviceConnect), registryRead (RegistryRead) and registryReadWrite
// (RegistryRead, RegistryWrite).
func DefaultPolicies() []Policy {
	return []Policy{
		{Name: "iothubowner", Rights: AllRights},
		{Name: "service", Rights: ServiceConnect},
		{Name: "device", Rights: DeviceConnect},
		{Name: "registryRead", Rights: RegistryRead},
		{Name: "registryReadWrite", Rights: RegistryRead | RegistryWrite},
	}
}

// minKeyBytes is the shortest key the emulator takes; IoT Hub generates
// keys of 32 bytes.
const minKeyBytes = 16

// preparePolicies copies the policies, fills in missing keys and checks
// names and keys.
func preparePolicies(in []Policy) ([]Policy, error) {
	if len(in) == 0 {
		in = DefaultPolicies()
	}
	out := make([]Policy, len(in))
	seen := map[string]bool{}
	for i, p := range in {
		if p.Name == "" {
			return nil, fmt.Errorf("emulator: policy %d has no name", i)
		}
		if seen[strings.ToLower(p.Name)] {
			return nil, fmt.Errorf("emulator: policy %q is defined twice", p.Name)
		}
		seen[strings.ToLower(p.Name)] = true
		for _, k := range []*string{&p.PrimaryKey, &p.SecondaryKey} {
			if *k != "" {
				if b, err := base64.StdEncoding.DecodeString(*k); err != nil || len(b) < minKeyBytes {
					// Never the key itself in the message.
					return nil, fmt.Errorf("emulator: a key of policy %q is not the base64 of at least %d bytes", p.Name, minKeyBytes)
				}
				continue
			}
			key, err := registry.NewKey()
			if err != nil {
				return nil, err
			}
			*k = key
		}
		out[i] = p
	}
	return out, nil
}

func (e *Emulator) policy(name string) (Policy, bool) {
	for _, p := range e.policies {
		if strings.EqualFold(p.Name, name) {
			return *p, true
		}
	}
	return Policy{}, false
}

// bearerAuthenticator checks a Microsoft Entra ID bearer token and returns
// the data actions it grants; nil refuses bearer tokens.
type bearerAuthenticator func(ctx context.Context, token string) (entra.DataActions, error)

func unauthorized(format string, args ...any) *iothub.Error {
	return iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, "Unauthorized: "+fmt.Sprintf(format, args...))
}

// authorize checks the request's Authorization header: a shared access
// signature must grant one of the rights in need; an Entra ID bearer token
// every data action in action (none refuses bearer tokens).
func (e *Emulator) authorize(r *http.Request, need Rights, action entra.DataActions) error {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return unauthorized("the request has no Authorization header")
	}
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		if e.bearer == nil {
			return unauthorized("Microsoft Entra ID tokens are not supported by this emulator; use a shared access signature")
		}
		granted, err := e.bearer(r.Context(), strings.TrimSpace(token))
		if err != nil {
			return unauthorized("the bearer token was refused: %v", err)
		}
		if action == 0 {
			return unauthorized("this operation does not accept Microsoft Entra ID tokens")
		}
		if missing := action &^ granted; missing != 0 {
			return unauthorized("the principal's roles lack the data action %s this operation needs", missing)
		}
		return nil
	}
	granted, err := e.checkSAS(r, h)
	if err != nil {
		return err
	}
	if granted&need == 0 {
		return unauthorized("the policy lacks the %s permission this operation needs", need)
	}
	return nil
}

func (e *Emulator) checkSAS(r *http.Request, header string) (Rights, error) {
	if !strings.HasPrefix(strings.ToLower(header), "sharedaccesssignature ") {
		return 0, unauthorized("the Authorization header is neither a shared access signature nor a bearer token")
	}
	sas, err := auth.ParseSAS(header)
	if err != nil {
		return 0, unauthorized("malformed shared access signature: %v", err)
	}
	if sas.KeyName == "" {
		return 0, unauthorized("the shared access signature names no policy (skn)")
	}
	p, ok := e.policy(sas.KeyName)
	if !ok {
		return 0, unauthorized("no shared access policy is named '%s'", sas.KeyName)
	}
	if !sas.VerifySignature(p.PrimaryKey) && !sas.VerifySignature(p.SecondaryKey) {
		return 0, unauthorized("the signature does not match the keys of policy '%s'", p.Name)
	}
	if sas.Expired(e.now()) {
		return 0, unauthorized("the shared access signature expired at %s", sas.Expiry.Format("2006-01-02T15:04:05Z"))
	}
	if !e.audienceMatches(r, sas.Resource) {
		return 0, unauthorized("the shared access signature's resource (sr) does not name this hub and path")
	}
	return p.Rights, nil
}

// audienceMatches reports whether a token's resource (sr) covers the
// request: its host part must name this hub (one of hostAliases, or the
// Host the client dialled), case-insensitively, and its path
// part, if any, must be a prefix of the request's path.
func (e *Emulator) audienceMatches(r *http.Request, resource string) bool {
	res := strings.ToLower(strings.TrimSpace(resource))
	if u, err := url.PathUnescape(res); err == nil {
		res = u
	}
	for _, scheme := range []string{"https://", "http://", "amqps://", "amqp://"} {
		res = strings.TrimPrefix(res, scheme)
	}
	host, rest, _ := strings.Cut(res, "/")
	if !e.namesThisHub(host) && !strings.EqualFold(host, r.Host) {
		return false
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return true
	}
	reqPath := strings.ToLower(strings.Trim(r.URL.Path, "/"))
	return reqPath == rest || strings.HasPrefix(reqPath, rest+"/")
}
