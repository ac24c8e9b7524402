//! `lnctl decodemsg <hex>` and `lnctl encodemsg <json>`: Lightning messages
//! (BOLT 1, 2 and 7) between their wire bytes and JSON.

use lightning_wire::msgs::Message;

/// Decodes a hex message (type and payload, optionally `0x`-prefixed) and
/// prints it as pretty JSON;
/// the `type` field names the message.
pub fn decodemsg(args: &[String]) -> Result<String, String> {
    let [hex_arg] = args else {
        return Err("usage: lnctl decodemsg <hex>".to_owned());
    };
    let hex_str = hex_arg.trim();
    let hex_str = hex_str.strip_prefix("0x").unwrap_or(hex_str);
    let bytes = hex::decode(hex_str).map_err(|e| format!("invalid hex: {e}"))?;
    let msg = Message::decode(&bytes).map_err(|e| format!("cannot decode message: {e}"))?;
    serde_json::to_string_pretty(&msg).map_err(|e| format!("cannot print message: {e}"))
}

/// Reads a message as JSON (the output of `decodemsg`) and prints its wire
/// bytes as hex.
pub fn encodemsg(args: &[String]) -> Result<String, String> {
    let [json] = args else {
        return Err("usage: lnctl encodemsg <json>".to_owned());
    };
    let msg: Message =
        serde_json::from_str(json).map_err(|e| format!("invalid message JSON: {e}"))?;
    let bytes = msg
        .encode()
        .map_err(|e| format!("cannot encode message: {e}"))?;
    Ok(hex::encode(bytes))
}
