// Package auth authenticates the service side of Azure IoT Hub: it parses
// connection strings, signs and checks shared access signatures (SAS), and
// provides the [Credential]s every client of this module takes.
//
// # Connection strings
//
// [ParseConnectionString] reads the connection string of a hub's shared
// access policy (HostName=…;SharedAccessKeyName=…;SharedAccessKey=…), the
// same with a ready-made SharedAccessSignature, the Event Hub-compatible
// form of the built-in endpoint (Endpoint=sb://…/;…;EntityPath=…), and the
// emulator's (…;UseDevelopmentEmulator=true, loopback hosts only). Every
// problem is a [*ConnectionStringError] naming the field.
// [NewCredentialFromConnectionString] goes straight to a credential.
//
// # Shared access signatures
//
// [SignSAS] signs a token with a policy key; [ParseSAS] reads one back, and
// [SAS.VerifySignature] checks it in constant time (the emulator does so for
// every request).
//
// # Credentials
//
//   - [SharedAccessKeyCredential] signs tokens with a policy key, caches one
//     per audience and renews it before expiry (valid 1 h, renewed after
//     48 min, by default).
//   - [SASCredential] hands out one fixed token until it expires.
//   - [TokenCredential] gets Microsoft Entra ID tokens from any
//     azcore.TokenCredential (azidentity), with scope [EntraIDScope].
//
// [AuthorizationHeader] turns any of their tokens into an HTTP Authorization
// header value.
//
// # Secrets
//
// Keys, signatures and tokens never appear in errors, and the String method
// of every type here that holds one replaces it with "<redacted>" (so does
// every fmt verb, %#v included). They are held as a [Secret], which no
// printing reaches, not even fmt's reflection over a struct that holds one
// in an unexported field: a client, a consumer or a user's own type that
// holds a credential prints no key under any verb. Log them freely.
package auth
