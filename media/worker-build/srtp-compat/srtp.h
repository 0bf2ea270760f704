/*
 * Parley: libsrtp 3 API shim over Debian 12's libsrtp2 (2.5.x).
 *
 * mediasoup >= 3.15 is written against libsrtp 3 (its meson subproject
 * "libsrtp3"), whose protect/unprotect calls take a separate output buffer and
 * size_t lengths, and which renamed srtp_remove_stream() to
 * srtp_stream_remove(). Debian only ships libsrtp2, whose calls work in place
 * on an int length. This header is put first on the worker's include path (as
 * worker/srtp-compat/srtp.h, see mediasoup-*-debian.patch), so mediasoup's
 * `#include <srtp.h>` lands here; it includes the real libsrtp2 header and adds
 * C++ overloads with the libsrtp 3 signatures that copy the input into the
 * output buffer (when they differ) and then run libsrtp2 in place.
 *
 * Used by scripts/build-mediasoup-worker.sh; it is part of the build cache key.
 */
#ifndef PARLEY_SRTP_COMPAT_H
#define PARLEY_SRTP_COMPAT_H

#include <srtp2/srtp.h>

#ifdef __cplusplus

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

/* Error codes added in libsrtp 3 (same values as libsrtp 3's enum; libsrtp2's
 * enum ends at srtp_err_status_pkt_idx_adv = 27). */
static constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
static constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

namespace parley_srtp_compat
{
	/* SRTCP adds a 4 byte E-flag/index word in addition to the auth tag/MKI. */
	static constexpr size_t SrtcpIndexLen{ 4 };

	using InPlaceFn = srtp_err_status_t (*)(srtp_t, void*, int*);

	/* Copy |in| into |out| (if they differ) and run |fn| in place on |out|.
	 * |needed| is the output capacity required (input + worst case growth). */
	inline srtp_err_status_t Run(
	  InPlaceFn fn,
	  srtp_t ctx,
	  const uint8_t* in,
	  size_t inLen,
	  uint8_t* out,
	  size_t* outLen,
	  size_t needed)
	{
		if (!in || !out || !outLen || inLen > static_cast<size_t>(INT_MAX))
		{
			return srtp_err_status_bad_param;
		}

		if (*outLen < needed)
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);

		if (err == srtp_err_status_ok)
		{
			*outLen = static_cast<size_t>(len);
		}

		return err;
	}
} // namespace parley_srtp_compat

/* libsrtp 3: srtp_protect(ctx, rtp, rtp_len, srtp, &srtp_len, mki_index).
 * mediasoup never configures MKIs, so mki_index is always 0 and ignored. */
inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtp_len, uint8_t* srtp, size_t* srtp_len, size_t /*mki_index*/)
{
	return parley_srtp_compat::Run(
	  ::srtp_protect, ctx, rtp, rtp_len, srtp, srtp_len, rtp_len + SRTP_MAX_TRAILER_LEN);
}

/* libsrtp 3: srtp_unprotect(ctx, srtp, srtp_len, rtp, &rtp_len). */
inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtp_len, uint8_t* rtp, size_t* rtp_len)
{
	return parley_srtp_compat::Run(::srtp_unprotect, ctx, srtp, srtp_len, rtp, rtp_len, srtp_len);
}

/* libsrtp 3: srtp_protect_rtcp(ctx, rtcp, rtcp_len, srtcp, &srtcp_len, mki_index). */
inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx,
  const uint8_t* rtcp,
  size_t rtcp_len,
  uint8_t* srtcp,
  size_t* srtcp_len,
  size_t /*mki_index*/)
{
	return parley_srtp_compat::Run(
	  ::srtp_protect_rtcp,
	  ctx,
	  rtcp,
	  rtcp_len,
	  srtcp,
	  srtcp_len,
	  rtcp_len + SRTP_MAX_TRAILER_LEN + parley_srtp_compat::SrtcpIndexLen);
}

/* libsrtp 3: srtp_unprotect_rtcp(ctx, srtcp, srtcp_len, rtcp, &rtcp_len). */
inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcp_len, uint8_t* rtcp, size_t* rtcp_len)
{
	return parley_srtp_compat::Run(
	  ::srtp_unprotect_rtcp, ctx, srtcp, srtcp_len, rtcp, rtcp_len, srtcp_len);
}

/* libsrtp 3 renamed srtp_remove_stream() to srtp_stream_remove(). */
inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

#endif /* __cplusplus */

#endif /* PARLEY_SRTP_COMPAT_H */
