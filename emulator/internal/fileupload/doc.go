// Package fileupload is the emulator's file upload into a real blob storage
// account (Azure Storage, or Azurite in tests), as IoT Hub does it for
// devices:
//
//  1. the device asks for a SAS URI (POST /devices/{id}/files with a
//     blobName): [Uploads.Start] creates the hub's container if needed and
//     answers a correlation id with the parts of a blob SAS URI: host name,
//     container, blob name "{deviceId}/{blobName}" and a SAS token that
//     grants read and write on that one blob until the SAS TTL ends;
//  2. the device PUTs the file to https://{hostName}/{containerName}/{blobName}{sasToken}
//     with any storage client, and the hub plays no part;
//  3. the device reports the outcome (POST /devices/{id}/files/notifications):
//     [Uploads.Complete] releases the correlation and, for a success, reads
//     the blob's size and last-modified time from storage and queues the
//     service's file-upload notification.
//
// The hub's rules hold: at most 10 uploads in flight per device (403006), a
// correlation id is the device's own and lives as long as its SAS (400015,
// 400016), a success whose blob storage cannot find is refused with 400020
// and leaves the upload in flight, a failure is forgotten without a
// notification, and a hub without linked storage answers 400014 (a nil
// *Uploads does).
//
// The account key signs the SAS tokens and reads the blobs' properties; it
// never appears in an error, a log line or a printed value.
package fileupload
