/**
 * Who a token belongs to on the tracking server (``GET mlops/api/whoami``): the sign-in check,
 * and what the user's role may do (the page hides what it may not; the server refuses it anyway).
 */

export interface IWhoAmI {
  name: string;
  role: string;
  /** Each action of the server's roles (read, log, run, approve, alias, admin): allowed or not. */
  may: Record<string, boolean>;
}

/** Why a token was not taken, in words for the sign-in form. */
export class SignInError extends Error {}

const TOKEN_SHAPE = /^[\x21-\x7e]{1,512}$/;

export async function whoAmI(baseUrl: string, token: string): Promise<IWhoAmI> {
  if (!TOKEN_SHAPE.test(token)) {
    throw new SignInError(
      'A token is one word without spaces, as printed by: jupyter mlops users add NAME --role viewer'
    );
  }
  let response: Response;
  try {
    response = await fetch(new URL('mlops/api/whoami', baseUrl).href, {
      headers: { Authorization: `token ${token}` },
      cache: 'no-store',
      credentials: 'omit'
    });
  } catch {
    throw new SignInError(
      'The server does not answer: is jupyter mlops server still running?'
    );
  }
  if (response.status === 401) {
    throw new SignInError(
      'This token is not accepted: it is mistyped, or its user was removed. ' +
        'An admin issues tokens with: jupyter mlops users add NAME --role viewer'
    );
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the message is the text
  }
  if (!response.ok) {
    const message =
      body && typeof body.message === 'string' ? body.message : text;
    throw new SignInError(
      `The server refused (${response.status}): ${message}`
    );
  }
  if (!body || typeof body.name !== 'string' || typeof body.may !== 'object') {
    throw new SignInError(
      'The server answered something else than who you are'
    );
  }
  return body as IWhoAmI;
}
