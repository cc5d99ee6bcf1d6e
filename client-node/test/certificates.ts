/** Test certificates, made with the openssl CLI. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI in `dir`. */
export function certificates(dir: string): Record<"ca" | "cert" | "key" | "clientCert" | "clientKey", string> {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "1",
    "-subj", "/CN=symbatcher test CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  const sign = (name: string, subject: string, extensions: string) => {
    fs.writeFileSync(file(`${name}.ext`), extensions);
    openssl("req", ...ec, "-keyout", file(`${name}.key`), "-out", file(`${name}.csr`), "-subj", subject);
    openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
      "-set_serial", String(Date.now()), "-days", "1", "-out", file(`${name}.pem`), "-extfile", file(`${name}.ext`));
  };
  sign("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  sign("client", "/CN=node client", "extendedKeyUsage=clientAuth\n");
  return {
    ca: file("ca.pem"), cert: file("server.pem"), key: file("server.key"),
    clientCert: file("client.pem"), clientKey: file("client.key"),
  };
}
