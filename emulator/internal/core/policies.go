package core

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// Rights are the permissions of a shared access policy, as bit flags: the
// same bits as the emulator's public Rights, and as kept in the state
// directory.
type Rights uint8

// The permissions a shared access policy can grant.
const (
	// RegistryRead allows reading identities and the registry statistics.
	RegistryRead Rights = 1 << iota
	// RegistryWrite allows creating, updating and deleting identities.
	RegistryWrite
	// ServiceConnect allows the service-facing endpoints.
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
// ("RegistryRead, RegistryWrite"), or "None".
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

// Policy is a shared access policy: a name, two keys and the rights that a
// token signed with either key grants.
type Policy struct {
	// Name is the policy's name (skn of tokens).
	Name string
	// PrimaryKey and SecondaryKey are base64 keys; either signs tokens.
	PrimaryKey, SecondaryKey string
	// Rights are what the policy grants.
	Rights Rights
}

// String describes the policy without its keys.
func (p Policy) String() string {
	return fmt.Sprintf("%s (%s)", p.Name, p.Rights)
}

// Format implements [fmt.Formatter] so that every verb prints
// [Policy.String] and never a key.
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

// Policy returns the policy of that name, compared case-insensitively.
func (h *Hub) Policy(name string) (Policy, bool) {
	for _, p := range h.policies {
		if strings.EqualFold(p.Name, name) {
			return *p, true
		}
	}
	return Policy{}, false
}

// Policies returns the hub's policies, keys included, in their order.
func (h *Hub) Policies() []Policy {
	out := make([]Policy, len(h.policies))
	for i, p := range h.policies {
		out[i] = *p
	}
	return out
}
