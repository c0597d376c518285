package registry

import (
	"fmt"

	"github.com/iotkit-go/iothub"
)

// errorf returns the hub's error for code with a formatted message.
func errorf(code iothub.ErrorCode, format string, args ...any) *iothub.Error {
	return iothub.NewError(code, fmt.Sprintf(format, args...))
}

func deviceNotFound(deviceID string) *iothub.Error {
	return errorf(iothub.CodeDeviceNotFound, "Device %s not registered", deviceID)
}

func moduleNotFound(deviceID, moduleID string) *iothub.Error {
	return errorf(iothub.CodeModuleNotFound, "Module %s not registered on device %s", moduleID, deviceID)
}

func preconditionFailed(what string) *iothub.Error {
	return errorf(iothub.CodePreconditionFailed, "Precondition failed: the ETag does not match the current ETag of the %s", what)
}
