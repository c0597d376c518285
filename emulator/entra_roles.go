package emulator

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
