/**
 * Most client bytes kept for a replay. A TLS ClientHello is a few hundred bytes to ~2 KiB (post-quantum
 * key shares included), and a TLS client sends nothing more before the server answers; a client that
 * sends more than this unanswered is not speaking TLS, and gets no retry rather than more memory.
 */
export const REPLAY_LIMIT_BYTES = 64 * 1024;

/** TLS record type of a handshake (a ClientHello starts with it). */
const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * Whether the client's kept bytes start a TLS handshake: a server that closes such a connection
 * without a byte has not seen a request. A client speaking anything else gets the close as it is (a
 * plain-text request may have been acted on, and a client that is not speaking TLS to a TLS server
 * would only be turned away by every upstream in turn).
 */
export function startsTlsHandshake(kept: readonly Buffer[] | undefined): boolean {
  return kept?.[0]?.[0] === TLS_HANDSHAKE_RECORD;
}
