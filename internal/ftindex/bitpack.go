package ftindex

import (
	"errors"
	"math/bits"
)

var errCorrupt = errors.New("corrupt fulltext file")

// bitWidth is the number of bits the largest of vs needs.
func bitWidth(vs []uint32) uint8 {
	var or uint32
	for _, v := range vs {
		or |= v
	}
	return uint8(bits.Len32(or))
}

// appendPacked appends vs with width bits each, least significant bit first,
// padded to whole bytes. Width 0 (all zero) takes no bytes at all: the
// common case of term frequencies that are all 1.
func appendPacked(dst []byte, vs []uint32, width uint8) []byte {
	if width == 0 {
		return dst
	}
	var acc uint64
	var n uint8
	for _, v := range vs {
		acc |= uint64(v) << n
		n += width
		for n >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			n -= 8
		}
	}
	if n > 0 {
		dst = append(dst, byte(acc))
	}
	return dst
}

// packedLen is the number of bytes appendPacked writes for count values.
func packedLen(count int, width uint8) int { return (count*int(width) + 7) / 8 }

// unpack reads len(dst) values of width bits from src and returns the rest
// of src.
func unpack(dst []uint32, src []byte, width uint8) ([]byte, error) {
	if width > 32 {
		return nil, errCorrupt
	}
	n := packedLen(len(dst), width)
	if len(src) < n {
		return nil, errCorrupt
	}
	if width == 0 {
		clear(dst)
		return src, nil
	}
	var acc uint64
	var have uint8
	mask := uint64(1)<<width - 1
	j := 0
	for i := range dst {
		for have < width {
			acc |= uint64(src[j]) << have
			j++
			have += 8
		}
		dst[i] = uint32(acc & mask)
		acc >>= width
		have -= width
	}
	return src[n:], nil
}
