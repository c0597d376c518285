package core

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Unauthorized returns the hub's 401002 IotHubUnauthorizedAccess error,
// "Unauthorized: " and the reason.
func Unauthorized(format string, args ...any) *iothub.Error {
	return iothub.NewError(iothub.CodeIotHubUnauthorizedAccess, "Unauthorized: "+fmt.Sprintf(format, args...))
}

// CheckSAS checks the shared access signature of a service request's
// Authorization header: its policy, signature, expiry and audience (sr),
// which must name this hub, or host (the Host the client dialled), and
// cover path. It returns the policy's rights, or an Unauthorized error.
func (h *Hub) CheckSAS(header, host, path string) (Rights, error) {
	if !strings.HasPrefix(strings.ToLower(header), "sharedaccesssignature ") {
		return 0, Unauthorized("the Authorization header is neither a shared access signature nor a bearer token")
	}
	sas, err := auth.ParseSAS(header)
	if err != nil {
		return 0, Unauthorized("malformed shared access signature: %v", err)
	}
	if sas.KeyName == "" {
		return 0, Unauthorized("the shared access signature names no policy (skn)")
	}
	p, ok := h.Policy(sas.KeyName)
	if !ok {
		return 0, Unauthorized("no shared access policy is named '%s'", sas.KeyName)
	}
	if !sas.VerifySignature(p.PrimaryKey) && !sas.VerifySignature(p.SecondaryKey) {
		return 0, Unauthorized("the signature does not match the keys of policy '%s'", p.Name)
	}
	if sas.Expired(h.now()) {
		return 0, Unauthorized("the shared access signature expired at %s", sas.Expiry.Format("2006-01-02T15:04:05Z"))
	}
	if !h.audienceMatches(host, path, sas.Resource) {
		return 0, Unauthorized("the shared access signature's resource (sr) does not name this hub and path")
	}
	return p.Rights, nil
}

// audienceMatches reports whether a token's resource (sr) covers a
// request: its host part must name this hub (one of hostAliases, or the
// Host the client dialled), case-insensitively, and its path part, if any,
// must be a prefix of the request's path.
func (h *Hub) audienceMatches(reqHost, reqPath, resource string) bool {
	res := strings.ToLower(strings.TrimSpace(resource))
	if u, err := url.PathUnescape(res); err == nil {
		res = u
	}
	for _, scheme := range []string{"https://", "http://", "amqps://", "amqp://"} {
		res = strings.TrimPrefix(res, scheme)
	}
	host, rest, _ := strings.Cut(res, "/")
	if !h.NamesThisHub(host) && !strings.EqualFold(host, reqHost) {
		return false
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return true
	}
	p := strings.ToLower(strings.Trim(reqPath, "/"))
	return p == rest || strings.HasPrefix(p, rest+"/")
}

// VerifySAS checks a SAS token's policy, signature and expiry, as AMQP
// presents it (CBS put-token, SASL PLAIN). textKey reports a token signed
// the Event Hubs way, with the policy key's text (not its base64-decoded
// bytes) as the HMAC key: what the Event Hubs SDKs do with the key of an
// Event Hub-compatible connection string.
func (h *Hub) VerifySAS(token string) (p Policy, sas *auth.SAS, textKey bool, err error) {
	sas, err = auth.ParseSAS(token)
	if err != nil {
		return Policy{}, nil, false, fmt.Errorf("malformed shared access signature: %v", err)
	}
	p, ok := h.Policy(sas.KeyName)
	if !ok {
		return Policy{}, nil, false, fmt.Errorf("no shared access policy is named '%s'", sas.KeyName)
	}
	if !sas.VerifySignature(p.PrimaryKey) && !sas.VerifySignature(p.SecondaryKey) {
		if !sas.VerifyKeyTextSignature(p.PrimaryKey) && !sas.VerifyKeyTextSignature(p.SecondaryKey) {
			return Policy{}, nil, false, fmt.Errorf("the signature does not match the keys of policy '%s'", p.Name)
		}
		textKey = true
	}
	if sas.Expired(h.now()) {
		return Policy{}, nil, false, errors.New("the shared access signature has expired")
	}
	return p, sas, textKey, nil
}

// ResourcePath checks that a token resource names this hub and returns
// its path part, lower-case without surrounding "/".
func (h *Hub) ResourcePath(resource string) (string, bool) {
	res := strings.ToLower(strings.TrimSpace(resource))
	for _, scheme := range []string{"amqps://", "amqp://", "sb://", "https://", "http://"} {
		res = strings.TrimPrefix(res, scheme)
	}
	host, rest, _ := strings.Cut(res, "/")
	if !h.NamesThisHub(host) {
		return "", false
	}
	return strings.Trim(rest, "/"), true
}

// CheckDeviceToken verifies the SAS token a device presents to connect: its
// resource must name the identity (or a prefix of it) on this hub, and it
// must be signed with one of the identity's keys or, naming a policy (skn),
// by a policy with DeviceConnect, and unexpired. It returns the expiry.
func (h *Hub) CheckDeviceToken(key sessions.Key, password string) (time.Time, error) {
	if password == "" {
		return time.Time{}, errors.New("no password (a SAS token) and no client certificate")
	}
	sas, err := auth.ParseSAS(password)
	if err != nil {
		return time.Time{}, fmt.Errorf("the password is not a SAS token: %v", err)
	}
	path, ok := h.ResourcePath(sas.Resource)
	wantPath := strings.ToLower("devices/" + key.DeviceID)
	if key.ModuleID != "" {
		wantPath += strings.ToLower("/modules/" + key.ModuleID)
	}
	if !ok || path != "" && path != wantPath && !strings.HasPrefix(wantPath, path+"/") {
		return time.Time{}, errors.New("the token's resource (sr) does not name this device on this hub")
	}
	var keys [2]string
	if sas.KeyName == "" {
		a, err := h.identityAuth(key)
		if err != nil {
			return time.Time{}, err
		}
		if a.Type != registry.AuthSAS {
			return time.Time{}, fmt.Errorf("the identity authenticates with %s, not a SAS key", a.Type)
		}
		keys = [2]string{a.PrimaryKey, a.SecondaryKey}
	} else {
		p, ok := h.Policy(sas.KeyName)
		if !ok || p.Rights&DeviceConnect == 0 {
			return time.Time{}, fmt.Errorf("policy %q does not exist or lacks DeviceConnect", sas.KeyName)
		}
		keys = [2]string{p.PrimaryKey, p.SecondaryKey}
	}
	if !sas.VerifySignature(keys[0]) && !sas.VerifySignature(keys[1]) {
		return time.Time{}, errors.New("the signature does not match the identity's keys")
	}
	if sas.Expired(h.now()) {
		return time.Time{}, errors.New("the SAS token has expired")
	}
	return sas.Expiry, nil
}

// identityAuth returns the authentication of a device or module.
func (h *Hub) identityAuth(key sessions.Key) (registry.Auth, error) {
	if key.ModuleID != "" {
		m, err := h.store.GetModule(key.DeviceID, key.ModuleID)
		return m.Auth, err
	}
	d, err := h.store.GetDevice(key.DeviceID)
	return d.Auth, err
}
