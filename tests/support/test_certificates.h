// PEM test credentials shared by the TLS tests. Never use outside tests.
#ifndef FNPROBE_TESTS_SUPPORT_TEST_CERTIFICATES_H_
#define FNPROBE_TESTS_SUPPORT_TEST_CERTIFICATES_H_

namespace fnprobe::testing {

// A self-signed P-256 certificate for CN=localhost with subjectAltName
// DNS:localhost, IP:127.0.0.1, valid 2000-01-01 to 2125-01-01, and its key.
// Made once with `openssl ca -selfsign` (a fixed validity window, so the
// test does not depend on the clock); it is its own CA.
inline constexpr char kServerCert[] = R"(-----BEGIN CERTIFICATE-----
MIIBaTCCAQ6gAwIBAgICEAAwCgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJbG9jYWxo
b3N0MCAXDTAwMDEwMTAwMDAwMFoYDzIxMjUwMTAxMDAwMDAwWjAUMRIwEAYDVQQD
DAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATfYO0/N7kCq4ZL
MzW8ToTqvTqjKlCNsH1SsF137ob1askr2q+bZk+GIc2DCE+JFiKMLHY0NmudZVuP
l6CeFJvjo04wTDAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwDwYDVR0TAQH/
BAUwAwEB/zAdBgNVHQ4EFgQUHYF8bZAeEwAZgihWbKrj3yza68gwCgYIKoZIzj0E
AwIDSQAwRgIhAMVNZenECwAxXgngdocg3DmqHGy2qMLYQ1Jg48sBp83GAiEAlTCt
4vJzuda68OFgB5t99N2W+ov0CyWDVSLc4PevHnQ=
-----END CERTIFICATE-----
)";

inline constexpr char kServerKey[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqreq2xiym0yqG7BF
n+GQsIVEo/HX8X1wSWpL5jFbrgGhRANCAATfYO0/N7kCq4ZLMzW8ToTqvTqjKlCN
sH1SsF137ob1askr2q+bZk+GIc2DCE+JFiKMLHY0NmudZVuPl6CeFJvj
-----END PRIVATE KEY-----
)";

// An unrelated self-signed CA (CN=fnprobe-other-ca), same validity.
inline constexpr char kOtherCa[] = R"(-----BEGIN CERTIFICATE-----
MIIBWjCCAQCgAwIBAgICEAEwCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQZm5wcm9i
ZS1vdGhlci1jYTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI1MDEwMTAwMDAwMFowGzEZ
MBcGA1UEAwwQZm5wcm9iZS1vdGhlci1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABME9RfEWGHCCwlN2oH71lR0jvhvR0OciXZskPogDDw8EYjKSzwe2ML5AiRyB
xOxkvAnYTTBTZsenMc607JaR1aujMjAwMA8GA1UdEwEB/wQFMAMBAf8wHQYDVR0O
BBYEFNyDUlLv4twkcLh/9kPuSU/460I4MAoGCCqGSM49BAMCA0gAMEUCIQDUZPtu
rKiT/D8qj4a+4xVrR1vbn19leOwEALoLHsTirQIgdI1pv/tW1opqeETkbbPFla7E
1+9SDyoYbRuWsK5L+HA=
-----END CERTIFICATE-----
)";

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_SUPPORT_TEST_CERTIFICATES_H_
