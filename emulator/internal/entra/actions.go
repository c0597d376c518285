package entra

import "strings"

// DataActions are the Azure RBAC data actions of IoT Hub's service APIs, as
// bit flags. Entra ID tokens are authorised by these, not by the four
// rights of shared access policies.
type DataActions uint32

// IoT Hub's data actions ("Permissions for IoT Hub service APIs").
const (
	DevicesRead                     DataActions = 1 << iota // Microsoft.Devices/IotHubs/devices/read
	DevicesWrite                                            // Microsoft.Devices/IotHubs/devices/write
	DevicesDelete                                           // Microsoft.Devices/IotHubs/devices/delete
	TwinsRead                                               // Microsoft.Devices/IotHubs/twins/read
	TwinsWrite                                              // Microsoft.Devices/IotHubs/twins/write
	JobsRead                                                // Microsoft.Devices/IotHubs/jobs/read
	JobsWrite                                               // Microsoft.Devices/IotHubs/jobs/write
	JobsDelete                                              // Microsoft.Devices/IotHubs/jobs/delete
	C2DSend                                                 // Microsoft.Devices/IotHubs/cloudToDeviceMessages/send/action
	C2DFeedback                                             // Microsoft.Devices/IotHubs/cloudToDeviceMessages/feedback/action
	C2DPurge                                                // Microsoft.Devices/IotHubs/cloudToDeviceMessages/queue/purge/action
	DirectMethodsInvoke                                     // Microsoft.Devices/IotHubs/directMethods/invoke/action
	FileUploadNotifications                                 // Microsoft.Devices/IotHubs/fileUpload/notifications/action
	StatisticsRead                                          // Microsoft.Devices/IotHubs/statistics/read
	ConfigurationsRead                                      // Microsoft.Devices/IotHubs/configurations/read
	ConfigurationsWrite                                     // Microsoft.Devices/IotHubs/configurations/write
	ConfigurationsDelete                                    // Microsoft.Devices/IotHubs/configurations/delete
	ConfigurationsApplyToEdgeDevice                         // Microsoft.Devices/IotHubs/configurations/applyToEdgeDevice/action
	ConfigurationsTestQueries                               // Microsoft.Devices/IotHubs/configurations/testQueries/action
)

// dataActionNames lists IoT Hub's data actions as Azure names them
// ("Permissions for IoT Hub service APIs", iot-hub-dev-guide-azure-ad-rbac).
var dataActionNames = []struct {
	a    DataActions
	name string
}{
	{DevicesRead, "Microsoft.Devices/IotHubs/devices/read"},
	{DevicesWrite, "Microsoft.Devices/IotHubs/devices/write"},
	{DevicesDelete, "Microsoft.Devices/IotHubs/devices/delete"},
	{TwinsRead, "Microsoft.Devices/IotHubs/twins/read"},
	{TwinsWrite, "Microsoft.Devices/IotHubs/twins/write"},
	{JobsRead, "Microsoft.Devices/IotHubs/jobs/read"},
	{JobsWrite, "Microsoft.Devices/IotHubs/jobs/write"},
	{JobsDelete, "Microsoft.Devices/IotHubs/jobs/delete"},
	{C2DSend, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/send/action"},
	{C2DFeedback, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/feedback/action"},
	{C2DPurge, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/queue/purge/action"},
	{DirectMethodsInvoke, "Microsoft.Devices/IotHubs/directMethods/invoke/action"},
	{FileUploadNotifications, "Microsoft.Devices/IotHubs/fileUpload/notifications/action"},
	{StatisticsRead, "Microsoft.Devices/IotHubs/statistics/read"},
	{ConfigurationsRead, "Microsoft.Devices/IotHubs/configurations/read"},
	{ConfigurationsWrite, "Microsoft.Devices/IotHubs/configurations/write"},
	{ConfigurationsDelete, "Microsoft.Devices/IotHubs/configurations/delete"},
	{ConfigurationsApplyToEdgeDevice, "Microsoft.Devices/IotHubs/configurations/applyToEdgeDevice/action"},
	{ConfigurationsTestQueries, "Microsoft.Devices/IotHubs/configurations/testQueries/action"},
}

// String lists the data actions by their Azure names, comma-separated.
func (a DataActions) String() string {
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

// matchActions returns the data actions that pattern matches, as Azure
// RBAC matches them: case-insensitively, with '*' standing for any run of
// characters, '/' included.
func matchActions(pattern string) DataActions {
	var a DataActions
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
