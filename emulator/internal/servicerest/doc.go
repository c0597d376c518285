// Package servicerest is the emulator's service REST front end: the hub's
// REST API (identity registry, bulk operations, modules, twins, direct
// methods, queries, statistics, C2D queue purges) with the paths, JSON
// shapes and api-versions of the service's REST definition, and the hub's
// error answers (status, iothub-errorcode header, and the legacy or
// structured body).
//
// It is thin: Handler routes a request, checks its credentials (shared
// access signatures through the hub core, Entra ID bearer tokens through
// the Options.Bearer hook, each route with the policy rights and the data
// actions it needs), decodes the body and encodes the answer; what a
// request does is the core's. The emulator's root package gives it the
// request log and fault injection as hooks.
//
// It depends on the hub core (internal/core), the types of
// internal/registry and internal/sessions, internal/entra's data actions,
// and the SDK's iothub error codes.
package servicerest
