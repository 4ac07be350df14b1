package units

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:               "0 B",
		1023:            "1023 B",
		1024:            "1.0 KiB",
		10*1024 + 410:   "10.4 KiB",
		64 << 20:        "64.0 MiB",
		64<<20 - 1:      "64.0 MiB",
		3<<30 + 512<<20: "3.5 GiB",
		5 << 40:         "5.0 TiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
