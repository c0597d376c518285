package registry

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkBulkCreateOrder creates n devices in bulk calls of 100 into an
// empty store, with ids in ascending and in random order, and reports
// devices/s: the cost of a create must not grow with the registry's size
// whatever order the ids come in.
func BenchmarkBulkCreateOrder(b *testing.B) {
	for _, n := range []int{100_000, 300_000} {
		for _, order := range []string{"ascending", "random"} {
			b.Run(fmt.Sprintf("devices=%d/order=%s", n, order), func(b *testing.B) {
				ids := make([]string, n)
				for i := range ids {
					ids[i] = fmt.Sprintf("dev-%07d", i)
				}
				if order == "random" {
					rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				}
				ops := make([]ImportOp, MaxBulkOperations)
				b.ReportAllocs()
				total := 0
				for b.Loop() {
					b.StopTimer()
					s, err := Open(nil)
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					for at := 0; at < n; at += len(ops) {
						for i := range ops {
							ops[i] = ImportOp{DeviceID: ids[at+i], Mode: ModeCreate}
						}
						if _, err := s.Bulk(ops); err != nil {
							b.Fatal(err)
						}
					}
					total += n
				}
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "devices/s")
			})
		}
	}
}
