package checkpoints_test

import (
	"testing"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) eventhub.CheckpointStore { return checkpoints.NewMemoryStore() })
}
