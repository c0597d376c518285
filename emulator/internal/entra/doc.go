// Package entra is the emulator's stand-in for Microsoft Entra ID: the
// Azure RBAC data actions of IoT Hub's service APIs, the built-in roles
// (and custom data action patterns) that grant them, and the Authority that
// signs the emulator's access tokens and verifies them.
//
// The service front ends authorise Entra ID tokens by data actions (REST
// routes and AMQP nodes each need theirs); the emulator's root package
// mints tokens through its TokenCredential. It depends on
// github.com/golang-jwt/jwt/v5 only.
package entra
