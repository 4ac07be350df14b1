package staging_test

import (
	"reflect"
	"testing"

	"github.com/indexbuild/indexbuild/internal/staging"
)

// FuzzDecodePartitionMeta: the decoder never panics, and whatever it accepts
// is valid and survives an encode/decode round trip unchanged.
func FuzzDecodePartitionMeta(f *testing.F) {
	f.Add([]byte(`{"formatVersion":1,"task":{"jobID":7,"schemaID":1,"tableID":42,"elementType":"index","elementIDs":[3,4]},"partition":0,"partitions":2,` +
		`"files":[{"path":"staging/part_0_3.sst","element":3,"size":11,"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],"rows":5,"bytes":11}`))
	f.Add([]byte(`{"formatVersion":1,"task":{"jobID":7,"schemaID":1,"tableID":42,"elementType":"fulltext","elementIDs":[3]},"partition":1,"partitions":2,"files":[],"rows":0,"bytes":0}`))
	f.Add([]byte(`{"formatVersion":2}`))
	f.Add([]byte(`{"files":[{"path":"../x"}]} trailing`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := staging.DecodePartitionMeta(data)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted invalid metadata: %v", err)
		}
		enc, err := staging.EncodePartitionMeta(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := staging.DecodePartitionMeta(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed metadata:\n%+v\n%+v", m, again)
		}
	})
}
