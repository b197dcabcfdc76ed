//! `recipients.reply_fanout`: replies would reach many people.
//!
//! Three ways: Reply-To is a list or group address (or the one visible address of a message
//! with hidden recipients — the Bcc-plus-list-Reply-To variant of the incident); `List-Post`
//! on mail to external recipients (a discussion list: every reply is posted to everyone); or
//! many visible external recipients plus a request to reply.

use super::{Context, solicits_sensitive};
use crate::finding::{Finding, Location, Severity};
use crate::parse::Origin;
use crate::party::mask_address;

pub const ID: &str = "recipients.reply_fanout";

/// Local parts that name a list or a group rather than a person.
const LIST_WORDS: &[&str] = &[
    "all",
    "everyone",
    "everybody",
    "customers",
    "customer",
    "clients",
    "client",
    "list",
    "lists",
    "group",
    "groups",
    "team",
    "staff",
    "members",
    "subscribers",
    "announce",
    "announcements",
    "community",
    "users",
    "todos",
    "clientes",
    "socios",
    "usuarios",
    "lista",
    "grupo",
    "equipo",
];

/// Words that ask the reader to reply.
const REPLY_WORDS: &[&str] = &[
    "reply",
    "respond",
    "replies",
    "responda",
    "responder",
    "responde",
    "respondan",
    "conteste",
    "contestar",
    "contesten",
];

pub fn detect(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let solicits = out.iter().any(|f| f.id == solicits_sensitive::ID);
    let severity = if solicits {
        Severity::High
    } else {
        Severity::Medium
    };
    if !ctx.has_external_recipient() {
        return;
    }
    let envelope = ctx.envelope_recipients();
    let visible: Vec<&str> = ctx
        .msg
        .visible_recipients()
        .map(|a| a.address.as_str())
        .collect();
    let reply_to = &ctx.msg.headers.reply_to;

    // 1. Reply-To that fans out.
    if reply_to.len() >= 2 {
        out.push(
            Finding::new(ID, severity, Location::header("Reply-To"))
                .kind("reply_to_many")
                .count(reply_to.len())
                .evidence(format!("Reply-To lists {} addresses", reply_to.len()))
                .reason("Every reply goes to several addresses at once.")
                .fix("Set Reply-To to one address that you control, or remove it."),
        );
        return;
    }
    if let Some(rt) = reply_to.first() {
        let addr = rt.address.as_str();
        let listish = is_list_address(addr);
        let hidden = envelope.len() > visible.len().max(1);
        let is_recipient = visible.contains(&addr) || envelope.iter().any(|e| e == addr);
        if listish || (is_recipient && hidden && envelope.len() >= 3) {
            out.push(
                Finding::new(ID, severity, Location::header("Reply-To"))
                    .kind("reply_to_list")
                    .count(envelope.len().max(visible.len()))
                    .evidence(format!(
                        "Reply-To: {} {} ({} recipients)",
                        mask_address(addr),
                        if listish { "looks like a list or group address" } else { "is itself a recipient of this message" },
                        envelope.len().max(visible.len())
                    ))
                    .reason("A reply goes to a list that reaches every recipient, so whatever one customer sends, all of them receive.")
                    .fix("Set Reply-To to a single mailbox you control (or the sender), never to the list the message was sent to."),
            );
            return;
        }
    }

    // 2. A discussion list header on mail to external recipients.
    if ctx
        .msg
        .headers
        .list_headers
        .iter()
        .any(|h| h == "List-Post")
    {
        out.push(
            Finding::new(ID, severity, Location::header("List-Post"))
                .kind("list_post")
                .count(envelope.len().max(visible.len()))
                .evidence("List-Post header on mail to external recipients")
                .reason(
                    "The message comes from a discussion list: a reply is posted to every member.",
                )
                .fix("Send customer mail from a one-way address, not through a discussion list."),
        );
        return;
    }

    // 3. Many visible external recipients plus a request to reply.
    let external_visible = visible
        .iter()
        .filter(|a| !ctx.party(a).is_internal())
        .count();
    if external_visible >= 3 && (solicits || asks_to_reply(ctx)) {
        let header = match (ctx.msg.headers.to.is_empty(), ctx.msg.headers.cc.is_empty()) {
            (false, false) => "To, Cc",
            (true, false) => "Cc",
            _ => "To",
        };
        out.push(
            Finding::new(ID, severity, Location::header(header))
                .kind("reply_all")
                .count(external_visible)
                .evidence(format!("{external_visible} visible external recipients and a request to reply"))
                .reason("A reply-all sends each answer, and whatever is attached, to every other recipient.")
                .fix("Send one message per recipient (explode) or use Bcc with a Reply-To of your own address."),
        );
    }
}

/// Does the address look like a list or group (`customers@…`, `all-staff@…`, `lists.…`)?
pub fn is_list_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    if domain.starts_with("lists.") || domain.starts_with("list.") || domain.starts_with("groups.")
    {
        return true;
    }
    local
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| LIST_WORDS.contains(&w))
}

fn asks_to_reply(ctx: &Context<'_>) -> bool {
    ctx.msg
        .texts
        .iter()
        .filter(|t| matches!(t.origin, Origin::Body | Origin::HtmlBody | Origin::Subject))
        .any(|t| contains_word(&t.text, REPLY_WORDS))
}

/// Whole-word, ASCII-case-insensitive search for any of `words`.
fn contains_word(text: &str, words: &[&str]) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| !w.is_empty() && w.len() <= 12 && words.iter().any(|x| x.eq_ignore_ascii_case(w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::testutil::run;

    #[test]
    fn list_reply_to_with_hidden_recipients() {
        let f = run(
            detect,
            "From: support@example.com\r\nTo: customers@example.com\r\nReply-To: customers@example.com\r\n\r\nPlease update your details.\r\n",
            &[
                "a@gmail.com",
                "b@yahoo.com",
                "c@aol.com",
                "customers@example.com",
            ],
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind.as_deref(), Some("reply_to_list"));
        assert_eq!(f[0].location.header.as_deref(), Some("Reply-To"));
    }

    #[test]
    fn recipient_reply_to_without_list_name() {
        let f = run(
            detect,
            "From: support@example.com\r\nTo: notices@example.com\r\nReply-To: notices@example.com\r\n\r\nhello\r\n",
            &[
                "a@gmail.com",
                "b@yahoo.com",
                "c@aol.com",
                "notices@example.com",
            ],
        );
        assert_eq!(f.len(), 1, "{f:?}");
    }

    #[test]
    fn personal_reply_to_is_fine() {
        let f = run(
            detect,
            "From: support@example.com\r\nTo: undisclosed-recipients:;\r\nReply-To: help@example.com\r\n\r\nPlease reply if you have questions.\r\n",
            &["a@gmail.com", "b@yahoo.com", "c@aol.com"],
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn list_post_to_customers() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com\r\nList-Id: <talk.example.com>\r\nList-Post: <mailto:talk@example.com>\r\n\r\nhi\r\n",
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind.as_deref(), Some("list_post"));
    }

    #[test]
    fn newsletter_unsubscribe_is_fine() {
        let f = run(
            detect,
            "From: news@example.com\r\nTo: x@gmail.com\r\nList-Unsubscribe: <mailto:unsub@example.com>\r\n\r\nnews\r\n",
            &[],
        );
        assert!(f.is_empty());
    }

    #[test]
    fn visible_recipients_asked_to_reply() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com, y@yahoo.com, z@aol.com\r\n\r\nPlease reply by Friday.\r\n",
            &[],
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind.as_deref(), Some("reply_all"));
        let none = run(
            detect,
            "From: a@example.com\r\nTo: x@gmail.com, y@yahoo.com, z@aol.com\r\n\r\nThe office is closed on Friday.\r\n",
            &[],
        );
        assert!(none.is_empty());
    }

    #[test]
    fn internal_only_is_fine() {
        let f = run(
            detect,
            "From: a@example.com\r\nTo: team@example.com\r\nReply-To: all@example.com\r\n\r\nPlease reply.\r\n",
            &[],
        );
        assert!(f.is_empty());
    }

    #[test]
    fn list_address_shapes() {
        assert!(is_list_address("customers@example.com"));
        assert!(is_list_address("all-staff@example.com"));
        assert!(is_list_address("x@lists.example.org"));
        assert!(!is_list_address("jane@example.com"));
        assert!(!is_list_address("callum@example.com"));
    }
}
