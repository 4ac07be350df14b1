package storage

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestETagMD5(t *testing.T) {
	md5 := []byte{0x5d, 0x41, 0x40, 0x2a, 0xbc, 0x4b, 0x2a, 0x76, 0xb9, 0x71, 0x9d, 0x91, 0x10, 0x17, 0xc5, 0x92}
	for etag, want := range map[string][]byte{
		`"5d41402abc4b2a76b9719d911017c592"`:   md5,
		`5d41402abc4b2a76b9719d911017c592`:     md5,
		`"5d41402abc4b2a76b9719d911017c592-2"`: nil, // multipart
		`"5d41402abc4b"`:                       nil,
		``:                                     nil,
	} {
		if got := etagMD5(etag); !bytes.Equal(got, want) {
			t.Errorf("etagMD5(%s) = %x, want %x", etag, got, want)
		}
	}
}

func TestS3ErrorClasses(t *testing.T) {
	status := func(code int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}}
	}
	api := func(code string) error { return &smithy.GenericAPIError{Code: code} }
	for _, tt := range []struct {
		err     error
		kind    error
		refuses bool
	}{
		{api("NoSuchKey"), ErrNotFound, false},
		{status(http.StatusNotFound), ErrNotFound, false},
		{api("AccessDenied"), ErrPermanent, false},
		{api("SignatureDoesNotMatch"), ErrPermanent, false},
		{status(http.StatusForbidden), ErrPermanent, false},
		{api("PreconditionFailed"), ErrExists, false},
		{api("InvalidArgument"), ErrRetryable, true},
		{api("NotImplemented"), ErrRetryable, true},
		{status(http.StatusBadRequest), ErrRetryable, true},
		{status(http.StatusServiceUnavailable), ErrRetryable, false},
		{api("SlowDown"), ErrRetryable, false},
	} {
		if got := kindOf(tt.err); got != tt.kind {
			t.Errorf("kindOf(%v) = %v, want %v", tt.err, got, tt.kind)
		}
		if got := refusesChecksum(tt.err); got != tt.refuses {
			t.Errorf("refusesChecksum(%v) = %v, want %v", tt.err, got, tt.refuses)
		}
	}
}
