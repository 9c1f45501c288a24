// Sign-In With Solana: a Wallet Standard wallet, or the injected `window.solana`, signs the gateway's SIWS message;
// the gateway answers with an HttpOnly session cookie the page never reads.
import bs58 from "bs58";
import { get, post, Refused } from "./http.js";

const standard = [];

// Wallet Standard discovery: wallets register themselves when the app says it is ready, and after.
window.addEventListener("wallet-standard:register-wallet", (event) => event.detail?.({ register: (w) => standard.push(w) }));
window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: { register: (w) => standard.push(w) } }));

/** Return a signer ({address, sign(bytes) -> signature bytes}) from the first wallet that can sign messages. */
async function signer() {
  const wallet = standard.find((w) => w.features["standard:connect"] && w.features["solana:signMessage"]);
  if (wallet) {
    const { accounts } = await wallet.features["standard:connect"].connect();
    const account = accounts[0];
    return { address: account.address, sign: async (message) =>
      (await wallet.features["solana:signMessage"].signMessage({ account, message }))[0].signature };
  }
  const injected = window.solana;
  if (!injected?.signMessage) throw new Error("no Solana wallet found: install one that signs messages");
  const connected = await injected.connect();
  const address = (connected?.publicKey ?? injected.publicKey).toString();
  return { address, sign: async (message) => (await injected.signMessage(message, "utf8")).signature };
}

/** Sign in with the wallet; return the session ({wallet, role, expires_at}). */
export async function signIn() {
  const wallet = await signer();
  const { message } = await post("/api/v1/auth/nonce", { address: wallet.address });
  const signature = await wallet.sign(new TextEncoder().encode(message));
  return post("/api/v1/auth/verify", { address: wallet.address, message, signature: bs58.encode(signature) });
}

/** Return the live session the cookie opens, or null. */
export async function session() {
  try {
    return await get("/api/v1/auth/session");
  } catch (error) {
    if (error instanceof Refused && error.status === 401) return null;
    throw error;
  }
}

/** End the session (cookie, stored session and its account rooms). */
export async function signOut() {
  await post("/api/v1/auth/logout");
}
