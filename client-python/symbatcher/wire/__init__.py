"""The wire: what travels between processes, and how (private modules).

- `_channel`: `Connection` (token, TLS) and the gRPC channels it opens;
- `_token_channel`: channels whose every call carries the token;
- `_rpc_errors`: the one place where gRPC and wire errors become the
  package's exceptions;
- `_codec`: payload encoding (JSON, or pickle opt-in);
- `_limits`: message size limits on the client side;
- `_settings`: the message size and keepalive settings from the environment.

The generated protocol stubs stay in `symbatcher/v1` (where the proto
package puts them and `scripts/gen_proto.py --check` compares them).
"""
