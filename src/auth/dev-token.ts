import { SignJWT } from "jose";

/** Mints an HS256 token for dev mode and tests. */
export async function mintToken(
  secret: string,
  claims: { sub: string; developer_id?: string; issuer?: string; audience?: string; expiresIn?: string },
): Promise<string> {
  let jwt = new SignJWT(claims.developer_id ? { developer_id: claims.developer_id } : {})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? "12h");
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
