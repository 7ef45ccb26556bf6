## Privacy: /privacy, /delete, /optin, /optout, /mydata, the policy-change notice, Meta's deletion status page

privacy-summary =
    🔒 Your privacy at Nexoraz (policy updated { $updated })

    What we keep: your chat account id, your name if the app shares it, your plan and credits, the photos you send and the images we make, and payment transaction ids.
    Why: to make and send your studio images, keep your credit balance right, stop abuse, and help you when you ask.
    Never: we do not sell your data or give it to advertisers, and we do not use your photos to train our models unless you say yes with /optin.
    Photos are stored encrypted. The photos you send are deleted after { $upload_days ->
        [one] { $upload_days } day
       *[other] { $upload_days } days
    }, the images we make after { $output_days ->
        [one] { $output_days } day
       *[other] { $output_days } days
    }.
    Free sign-up credits come once per chat account: after a deletion we keep only a one-way fingerprint of your account id for that.

    Your choices:
    /mydata: get a copy of everything we hold about you
    /delete: erase your account and your data
    /optin or /optout: allow or stop the use of your photos to improve our models (off unless you turn it on)
    Questions: { $email }

privacy-link = The full policy: { $url }
privacy-full-button = Full policy

privacy-full-data =
    Nexoraz privacy policy (last updated { $updated })

    1. What we collect
    • Account: your Telegram, WhatsApp, Messenger or web chat id, your name if the app shares it, your language, plan and credit balance.
    • Usage: when you send photos, which backgrounds and sizes you choose, and how each job went (to run the service and count credits).
    • Photos: the photos you send and the images we make from them.
    • Payments: the payment number, pack, amount, currency, the provider's transaction id (Telegram Stars or bKash) and dates; never card or wallet numbers or PINs (Telegram and bKash keep those). After /delete these billing records stay, as the law requires, without anything that names you.

    2. How we use it
    To make and deliver your images, keep your balance right, answer support questions, and prevent abuse (message limits and fraud checks). Statistics are only ever counted in aggregate, never per person.

    3. What we never do
    We do not sell your data or share it with advertisers. We do not use your photos to train or improve our models unless you opt in with /optin; you can withdraw at any time with /optout, and we record each choice with the policy version in force. Photos kept for training carry no location or camera data (EXIF/GPS).

    4. Storage and security
    Photos are stored encrypted (AES-GCM). The photos you send are deleted after { $upload_days ->
        [one] { $upload_days } day
       *[other] { $upload_days } days
    }, the images we make after { $output_days ->
        [one] { $output_days } day
       *[other] { $output_days } days
    }.

privacy-full-rights =
    5. Your rights
    • See your data: /mydata sends you a zip file with everything we hold about you.
    • Delete: /delete erases your account, photos, results and waiting jobs everywhere. Billing records we must keep stay, but without anything that names you.
    • Free sign-up credits come once per chat account. To make sure of that, we keep a one-way fingerprint (a keyed hash) of your account id even after a deletion; it cannot be turned back into your id.
    • Training consent: /optin and /optout, at any time.

    6. Changes
    When this policy changes, we tell you here in the chat with your next message.

    7. Contact
    { $email }

privacy-changed = 📢 We updated our privacy policy on { $updated }. Type /privacy to read the summary and your choices. The choices you made (such as /optin or /optout) stay as they are.

delete-explain =
    Do you want to erase your Nexoraz account?
    This erases everywhere: your account and settings, your credit balance, the photos you sent, the images we made, and photos still waiting in the queue. It cannot be undone.
    Billing records we must keep stay, without anything that names you. Free sign-up credits are not given again to the same chat account.
    Tap the button below to confirm. Any other message cancels.
delete-confirm-button = Yes, erase all
delete-cancel-button = Cancel
delete-done = Done: your account and your data have been erased. If you write again, you start a fresh account (without new free sign-up credits).
delete-cancelled = Deletion cancelled: nothing was erased.
delete-expired = That confirmation has expired, so nothing was erased. Type /delete to start again.

optin-done = Thank you! From now on, the photos you send may be used to improve our models (under the policy of { $updated }). Photos you sent before stay out. You can stop at any time with /optout.
optin-already = You have already allowed it. To stop, type /optout.
optout-done = Done: your photos will not be used to improve our models, and the ones you sent while you allowed it are taken out of the training set.
optout-already = Your photos are not used to improve our models (that is the default; /optin would allow it).

mydata-caption = Everything we hold about you: nexoraz-data.json and your images.
mydata-too-many = You have asked for your data several times in the last hour. Please try again later.

meta-deletion-title = Nexoraz: data deletion
meta-deletion-erased = Your deletion request was completed on { $date }: the account and its data have been erased.
meta-deletion-nothing = Your deletion request was received on { $date }. We could not match this Facebook account to an account with Nexoraz, so nothing was erased. If you use our bot on Messenger or WhatsApp, send "delete" there and everything will be erased.
meta-deletion-unknown = We do not know this confirmation code. Please check the link, or write to { $email }.
