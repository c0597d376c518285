package emulator

import (
	"strings"
)

// The built-in Azure roles of IoT Hub's data plane, as a token from
// [Emulator.TokenCredential] names them. Each grants the data actions Azure
// defines for it (see "Azure built-in roles for Internet of Things"):
//
//	IoT Hub Data Contributor      Microsoft.Devices/IotHubs/*
//	IoT Hub Data Reader           Microsoft.Devices/IotHubs/*/read,
//	                              Microsoft.Devices/IotHubs/fileUpload/notifications/action
//	IoT Hub Registry Contributor  Microsoft.Devices/IotHubs/devices/*
//	IoT Hub Twin Contributor      Microsoft.Devices/IotHubs/twins/*
//
// Azure has no other built-in IoT Hub data role; a custom role is written as
// its data actions instead (see [Emulator.TokenCredential]).
const (
	RoleDataContributor     = "IoT Hub Data Contributor"
	RoleDataReader          = "IoT Hub Data Reader"
	RoleRegistryContributor = "IoT Hub Registry Contributor"
	RoleTwinContributor     = "IoT Hub Twin Contributor"
)

// dataActions are the Azure RBAC data actions of IoT Hub's service APIs, as
// bit flags. Entra ID tokens are authorised by these, not by the four
// rights of shared access policies.
type dataActions uint32

const (
	actDevicesRead dataActions = 1 << iota
	actDevicesWrite
	actDevicesDelete
	actTwinsRead
	actTwinsWrite
	actJobsRead
	actJobsWrite
	actJobsDelete
	actC2DSend
	actC2DFeedback
	actC2DPurge
	actDirectMethodsInvoke
	actFileUploadNotifications
	actStatisticsRead
	actConfigurationsRead
	actConfigurationsWrite
	actConfigurationsDelete
	actConfigurationsApplyToEdgeDevice
	actConfigurationsTestQueries
)

// dataActionNames lists IoT Hub's data actions as Azure names them
// ("Permissions for IoT Hub service APIs", iot-hub-dev-guide-azure-ad-rbac).
var dataActionNames = []struct {
	a    dataActions
	name string
}{
	{actDevicesRead, "Microsoft.Devices/IotHubs/devices/read"},
	{actDevicesWrite, "Microsoft.Devices/IotHubs/devices/write"},
	{actDevicesDelete, "Microsoft.Devices/IotHubs/devices/delete"},
	{actTwinsRead, "Microsoft.Devices/IotHubs/twins/read"},
	{actTwinsWrite, "Microsoft.Devices/IotHubs/twins/write"},
	{actJobsRead, "Microsoft.Devices/IotHubs/jobs/read"},
	{actJobsWrite, "Microsoft.Devices/IotHubs/jobs/write"},
	{actJobsDelete, "Microsoft.Devices/IotHubs/jobs/delete"},
	{actC2DSend, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/send/action"},
	{actC2DFeedback, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/feedback/action"},
	{actC2DPurge, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/queue/purge/action"},
	{actDirectMethodsInvoke, "Microsoft.Devices/IotHubs/directMethods/invoke/action"},
	{actFileUploadNotifications, "Microsoft.Devices/IotHubs/fileUpload/notifications/action"},
	{actStatisticsRead, "Microsoft.Devices/IotHubs/statistics/read"},
	{actConfigurationsRead, "Microsoft.Devices/IotHubs/configurations/read"},
	{actConfigurationsWrite, "Microsoft.Devices/IotHubs/configurations/write"},
	{actConfigurationsDelete, "Microsoft.Devices/IotHubs/configurations/delete"},
	{actConfigurationsApplyToEdgeDevice, "Microsoft.Devices/IotHubs/configurations/applyToEdgeDevice/action"},
	{actConfigurationsTestQueries, "Microsoft.Devices/IotHubs/configurations/testQueries/action"},
}

// String lists the data actions by their Azure names, comma-separated.
func (a dataActions) String() string {
	var names []string
	for _, n := range dataActionNames {
		if a&n.a != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

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

// roleActions returns the data actions a role grants. role is a built-in
// role's name or definition id (case-insensitive), or a data action
// pattern such as "Microsoft.Devices/IotHubs/cloudToDeviceMessages/*". ok
// is false for anything else, and for a pattern that matches no action.
func roleActions(role string) (dataActions, bool) {
	role = strings.TrimSpace(role)
	for _, r := range builtInRoles {
		if strings.EqualFold(role, r.name) || strings.EqualFold(role, r.id) {
			var a dataActions
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
func rolesActions(roles []string) dataActions {
	var a dataActions
	for _, r := range roles {
		ra, _ := roleActions(r)
		a |= ra
	}
	return a
}

// matchActions returns the data actions that pattern matches, as Azure
// RBAC matches them: case-insensitively, with '*' standing for any run of
// characters, '/' included.
func matchActions(pattern string) dataActions {
	var a dataActions
	for _, n := range dataActionNames {
		if wildcardMatch(strings.ToLower(pattern), strings.ToLower(n.name)) {
			a |= n.a
		}
	}
	return a
}

// wildcardMatch reports whether s matches pattern, where '*' matches any
// run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
