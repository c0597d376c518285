// Package transport is the one HTTP pipeline every REST client of the SDK
// uses: base URL, api-version, authorisation, request ids, JSON in and out,
// retries per [iothub.RetryOptions], decoding of the hub's error bodies into
// [*iothub.Error], and debug logging that never shows a secret.
package transport
