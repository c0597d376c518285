// Package devicehttp is the emulator's device HTTPS front end: IoT Hub's
// device-facing REST API as the hub documents it (the "Device" operations
// of api-version 2021-04-12, older versions accepted) and as the official
// device SDKs call it.
//
//	POST   /devices/{id}/messages/events                   telemetry, one message or a batch
//	GET    /devices/{id}/messages/deviceBound              poll for a C2D message
//	DELETE /devices/{id}/messages/deviceBound/{etag}       complete it (?reject: reject it)
//	POST   /devices/{id}/messages/deviceBound/{etag}/abandon
//	POST   /devices/{id}/files                             start a file upload
//	POST   /devices/{id}/files/notifications[/{correlationId}]  end it
//
// The messaging paths have module forms, /devices/{id}/modules/{mid}/….
// Fixed path words match in any case ("deviceBound", "devicebound").
//
// A single message's body is the request body; its application properties
// come from iothub-app-{name} headers, its system properties from
// iothub-messageid, iothub-correlationid, iothub-contenttype,
// iothub-contentencoding and iothub-creationtimeutc. A request with
// Content-Type application/vnd.microsoft.iothub.json is a batch: a JSON
// array of {"body","base64Encoded","properties"} whose properties are named
// as those headers are. Either is at most 256 KB. A polled C2D message
// comes back with its lock token as a quoted ETag and its properties as
// headers; an empty queue answers 204.
//
// Every request authenticates as the identity its path names: a SAS token
// in the Authorization header signed with one of the identity's keys or by
// a policy with DeviceConnect, or, over TLS with no Authorization header,
// the client certificate of a selfSigned identity. The checks are the hub
// core's (core.Hub.CheckDeviceToken, CheckDeviceCertificate,
// CheckCanConnect), shared with the other device front ends. Errors are
// answered in the service REST API's legacy shape (servicerest.WriteError).
//
// File uploads are handed to a FileUploads the emulator provides; without
// one the hub has no linked storage account and says so.
package devicehttp
