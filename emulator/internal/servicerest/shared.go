package servicerest

import "net/http"

// WriteError answers err as the hub's gateway does, in the legacy shape
// {"Message":"ErrorCode:…;…","ExceptionMessage":"Tracking ID:…"} with the
// iothub-errorcode header; an error that is not an *iothub.Error is a
// 500001 ServerError. The other REST front ends (the device HTTPS API)
// answer their errors with it, so that every REST answer has one shape.
func WriteError(w http.ResponseWriter, err error) { writeError(w, legacyForm, err) }

// SupportedAPIVersion reports whether the service REST API answers
// api-version v.
func SupportedAPIVersion(v string) bool { return supportedAPIVersions[v] }
