package iothub

import "strconv"

// ErrorCode is the hub's six-digit error code: the HTTP status followed by
// three digits that say which error it is (404001 is DeviceNotFound). The
// codes are stable API: match on them, not on message text.
type ErrorCode int

// The hub's error codes that this SDK and its emulator know by name.
const (
	CodeInvalidProtocolVersion          ErrorCode = 400001
	CodeInvalidOperation                ErrorCode = 400003
	CodeArgumentInvalid                 ErrorCode = 400004
	CodeArgumentNull                    ErrorCode = 400005
	CodeIotHubFormatError               ErrorCode = 400006
	CodeDeviceDefinedMultipleTimes      ErrorCode = 400011
	CodeBulkRegistryOperationFailure    ErrorCode = 400013
	CodeIotHubUnauthorizedAccess        ErrorCode = 401002
	CodeIotHubSuspended                 ErrorCode = 403001
	CodeIotHubQuotaExceeded             ErrorCode = 403002
	CodeDeviceMaximumQueueDepthExceeded ErrorCode = 403004
	CodeDeviceNotFound                  ErrorCode = 404001
	CodeModuleNotFound                  ErrorCode = 404010
	CodeDeviceNotOnline                 ErrorCode = 404103
	CodeRequestTimeout                  ErrorCode = 408000
	CodeDeviceAlreadyExists             ErrorCode = 409001
	CodeModuleAlreadyExistsOnDevice     ErrorCode = 409301
	CodePreconditionFailed              ErrorCode = 412001
	CodeDeviceMessageLockLost           ErrorCode = 412002
	CodeMessageTooLarge                 ErrorCode = 413001
	CodeTooManyDevices                  ErrorCode = 413002
	CodeThrottlingException             ErrorCode = 429001
	CodeThrottleBacklogLimitExceeded    ErrorCode = 429002
	CodeServerError                     ErrorCode = 500001
	CodeServiceUnavailable              ErrorCode = 503001
	CodeGatewayTimeout                  ErrorCode = 504101
)

// The hub's error codes of file uploads (devices' /files and
// /files/notifications).
const (
	CodeDefaultStorageEndpointNotConfigured        ErrorCode = 400014
	CodeInvalidFileUploadCorrelationId             ErrorCode = 400015
	CodeExpiredFileUploadCorrelationId             ErrorCode = 400016
	CodeInvalidStorageEndpointOrBlob               ErrorCode = 400020
	CodeDeviceMaximumActiveFileUploadLimitExceeded ErrorCode = 403006
)

var codeNames = map[ErrorCode]string{
	CodeInvalidProtocolVersion:          "InvalidProtocolVersion",
	CodeInvalidOperation:                "InvalidOperation",
	CodeArgumentInvalid:                 "ArgumentInvalid",
	CodeArgumentNull:                    "ArgumentNull",
	CodeIotHubFormatError:               "IotHubFormatError",
	CodeDeviceDefinedMultipleTimes:      "DeviceDefinedMultipleTimes",
	CodeBulkRegistryOperationFailure:    "BulkRegistryOperationFailure",
	CodeIotHubUnauthorizedAccess:        "IotHubUnauthorizedAccess",
	CodeIotHubSuspended:                 "IotHubSuspended",
	CodeIotHubQuotaExceeded:             "IotHubQuotaExceeded",
	CodeDeviceMaximumQueueDepthExceeded: "DeviceMaximumQueueDepthExceeded",
	CodeDeviceNotFound:                  "DeviceNotFound",
	CodeModuleNotFound:                  "ModuleNotFound",
	CodeDeviceNotOnline:                 "DeviceNotOnline",
	CodeRequestTimeout:                  "RequestTimeout",
	CodeDeviceAlreadyExists:             "DeviceAlreadyExists",
	CodeModuleAlreadyExistsOnDevice:     "ModuleAlreadyExistsOnDevice",
	CodePreconditionFailed:              "PreconditionFailed",
	CodeDeviceMessageLockLost:           "DeviceMessageLockLost",
	CodeMessageTooLarge:                 "MessageTooLarge",
	CodeTooManyDevices:                  "TooManyDevices",
	CodeThrottlingException:             "ThrottlingException",
	CodeThrottleBacklogLimitExceeded:    "ThrottleBacklogLimitExceeded",
	CodeServerError:                     "ServerError",
	CodeServiceUnavailable:              "ServiceUnavailable",
	CodeGatewayTimeout:                  "GatewayTimeout",

	CodeDefaultStorageEndpointNotConfigured:        "DefaultStorageEndpointNotConfigured",
	CodeInvalidFileUploadCorrelationId:             "InvalidFileUploadCorrelationId",
	CodeExpiredFileUploadCorrelationId:             "ExpiredFileUploadCorrelationId",
	CodeInvalidStorageEndpointOrBlob:               "InvalidStorageEndpointOrBlob",
	CodeDeviceMaximumActiveFileUploadLimitExceeded: "DeviceMaximumActiveFileUploadLimitExceeded",
}

var codesByName = func() map[string]ErrorCode {
	m := make(map[string]ErrorCode, len(codeNames))
	for c, n := range codeNames {
		m[n] = c
	}
	return m
}()

// String returns the hub's name for the code ("DeviceNotFound"), or the
// number when the code is not one this SDK knows.
func (c ErrorCode) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	if c == 0 {
		return ""
	}
	return strconv.Itoa(int(c))
}

// StatusCode returns the HTTP status the code belongs to: its first three
// digits (404 for 404001), or 0 when the code is not six digits long.
func (c ErrorCode) StatusCode() int {
	if c < 100000 || c > 999999 {
		return 0
	}
	return int(c) / 1000
}

// ErrorCodeByName returns the code the hub uses for name ("DeviceNotFound"),
// for answers that carry only the name.
func ErrorCodeByName(name string) (ErrorCode, bool) {
	c, ok := codesByName[name]
	return c, ok
}
