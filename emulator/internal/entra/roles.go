package entra

import "strings"

// The built-in Azure roles of IoT Hub's data plane, by name. Each grants
// the data actions Azure defines for it (see "Azure built-in roles for
// Internet of Things"):
//
//	IoT Hub Data Contributor      Microsoft.Devices/IotHubs/*
//	IoT Hub Data Reader           Microsoft.Devices/IotHubs/*/read,
//	                              Microsoft.Devices/IotHubs/fileUpload/notifications/action
//	IoT Hub Registry Contributor  Microsoft.Devices/IotHubs/devices/*
//	IoT Hub Twin Contributor      Microsoft.Devices/IotHubs/twins/*
const (
	RoleDataContributor     = "IoT Hub Data Contributor"     // every data action
	RoleDataReader          = "IoT Hub Data Reader"          // the reads and file notifications
	RoleRegistryContributor = "IoT Hub Registry Contributor" // devices and modules
	RoleTwinContributor     = "IoT Hub Twin Contributor"     // twins
)

// builtInRoles are the built-in roles, by name and role definition id, with
// their dataActions patterns.
var builtInRoles = []struct {
	name, id string
	patterns []string
}{
	{RoleDataContributor, "4fc6c259-987e-4a07-842e-c321cc9d413f", []string{"Microsoft.Devices/IotHubs/*"}},
	{RoleDataReader, "b447c946-2db7-41ec-983d-d8bf3b1c77e3", []string{"Microsoft.Devices/IotHubs/*/read", "Microsoft.Devices/IotHubs/fileUpload/notifications/action"}},
	{RoleRegistryContributor, "4ea46cd5-c1b2-4a8e-910b-273211f9ce47", []string{"Microsoft.Devices/IotHubs/devices/*"}},
	{RoleTwinContributor, "494bdba2-168f-4f31-a0a1-191d2f7c028c", []string{"Microsoft.Devices/IotHubs/twins/*"}},
}

// dataActionPrefix starts every IoT Hub data action; a role claim that
// starts with it is a data action pattern (a custom role's dataActions).
const dataActionPrefix = "microsoft.devices/iothubs/"

// RoleActions returns the data actions a role grants. role is a built-in
// role's name or definition id (case-insensitive), or a data action
// pattern such as "Microsoft.Devices/IotHubs/cloudToDeviceMessages/*". ok
// is false for anything else, and for a pattern that matches no action.
func RoleActions(role string) (DataActions, bool) {
	role = strings.TrimSpace(role)
	for _, r := range builtInRoles {
		if strings.EqualFold(role, r.name) || strings.EqualFold(role, r.id) {
			var a DataActions
			for _, p := range r.patterns {
				a |= matchActions(p)
			}
			return a, true
		}
	}
	if len(role) > len(dataActionPrefix) && strings.EqualFold(role[:len(dataActionPrefix)], dataActionPrefix) {
		a := matchActions(role)
		return a, a != 0
	}
	return 0, false
}

// rolesActions is the union of the data actions of roles; roles it does
// not know grant nothing.
func rolesActions(roles []string) DataActions {
	var a DataActions
	for _, r := range roles {
		ra, _ := RoleActions(r)
		a |= ra
	}
	return a
}
