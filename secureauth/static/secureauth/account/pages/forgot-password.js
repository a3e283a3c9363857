import { client } from "../session.js";
import { announce, byId, onSubmit } from "../ui.js";

onSubmit(byId("forgot-form"), async (data) => {
  const answer = await client.requestPasswordReset(String(data.get("email")));
  announce(answer.detail, "success", { focus: true });
});
