package emulator

import (
	"fmt"

	"github.com/iotkit-go/iothub/emulator/internal/core"
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

// The public rights are the core's, bit for bit: they convert both ways
// and are kept in the state directory as numbers. The index below is 0
// only when every bit matches; a mismatch does not compile.
var _ = [1]struct{}{}[uint8(RegistryRead)^uint8(core.RegistryRead)|
	uint8(RegistryWrite)^uint8(core.RegistryWrite)|
	uint8(ServiceConnect)^uint8(core.ServiceConnect)|
	uint8(DeviceConnect)^uint8(core.DeviceConnect)]

// String lists the rights the way the hub names them, comma-separated
// ("RegistryRead, RegistryWrite").
func (r Rights) String() string { return core.Rights(r).String() }

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

// DefaultPolicies returns the policies a new IoT hub has, without keys:
// iothubowner (all rights), service (ServiceConnect), device
// (DeviceConnect), registryRead (RegistryRead) and registryReadWrite
// (RegistryRead, RegistryWrite).
func DefaultPolicies() []Policy {
	defaults := core.DefaultPolicies()
	out := make([]Policy, len(defaults))
	for i, p := range defaults {
		out[i] = fromCorePolicy(p)
	}
	return out
}

// toCorePolicies converts Options.Policies for the hub core.
func toCorePolicies(policies []Policy) []core.Policy {
	out := make([]core.Policy, len(policies))
	for i, p := range policies {
		out[i] = core.Policy{Name: p.Name, PrimaryKey: p.PrimaryKey, SecondaryKey: p.SecondaryKey, Rights: core.Rights(p.Rights)}
	}
	return out
}

func fromCorePolicy(p core.Policy) Policy {
	return Policy{Name: p.Name, PrimaryKey: p.PrimaryKey, SecondaryKey: p.SecondaryKey, Rights: Rights(p.Rights)}
}

func (e *Emulator) policy(name string) (Policy, bool) {
	p, ok := e.hub.Policy(name)
	if !ok {
		return Policy{}, false
	}
	return fromCorePolicy(p), true
}
