import { errors, jwtVerify, SignJWT } from 'jose';

// Identity: HS256 JWTs (jose) signed with REGFLOW_JWT_SECRET.
//   sub   the fan's globalUserId (required)
//   idv   true when the identity provider has verified the fan's identity (the IDV gate reads it;
//         the token issuer is the one party that knows, so the API trusts only the signed claim)
//   role  'admin' for campaign managers (the admin API requires it)
// Tokens must carry `exp`; 5 s of clock skew are tolerated.

export interface Principal {
  sub: string;
  idv: boolean;
  role?: string;
}

export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
  }
}

const SUB = /^[A-Za-z0-9._:@-]{1,128}$/;

export class TokenVerifier {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  /** Verifies `Authorization: Bearer <jwt>`; throws AuthError(401) with the reason. */
  async verify(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw new AuthError(401, 'missing Authorization: Bearer token');
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization);
    if (!m?.[1] || m[1].length > 4096) throw new AuthError(401, 'expected Authorization: Bearer <JWT>');
    try {
      const { payload } = await jwtVerify(m[1], this.key, {
        algorithms: ['HS256'],
        clockTolerance: 5,
        requiredClaims: ['sub', 'exp'],
      });
      if (typeof payload.sub !== 'string' || !SUB.test(payload.sub))
        throw new AuthError(401, 'token sub is not a globalUserId');
      const principal: Principal = { sub: payload.sub, idv: payload.idv === true };
      if (typeof payload.role === 'string') principal.role = payload.role;
      return principal;
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof errors.JWTExpired) throw new AuthError(401, 'token expired');
      throw new AuthError(401, 'invalid token');
    }
  }
}

/** Signs a token (tests, benchmarks and `regflow token`). */
export async function signToken(
  secret: string,
  claims: { sub: string; idv?: boolean; role?: string },
  expiresIn: string | number = '1h',
): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
