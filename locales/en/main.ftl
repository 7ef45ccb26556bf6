## First contact and finding one's way

welcome =
    Welcome to Nexoraz! 📸
    Send me a photo of your product and I will turn it into studio images: background removed, a clean white or styled backdrop, a soft shadow, and sizes ready for Facebook, Instagram and marketplaces.

    You have { $source ->
        [gift] { $credits ->
            [one] { $credits } free credit, our welcome gift
           *[other] { $credits } free credits, our welcome gift
        }
       *[balance] { $credits ->
            [one] { $credits } credit
           *[other] { $credits } credits
        }
    }.

    What to do next: photograph your product in good light and send the photo here.{ $more }
    Type "help" to see everything I can do.

help-intro =
    Here is what I can do:
    📷 Send a photo of a product: I send back studio images ({ $cost ->
        [one] { $cost } credit
       *[other] { $cost } credits
    } per photo).
help-line = { $usage }: { $description }
help-outro = No menu? Type the words without the slash, in English or Bengali, e.g. "credits" or "ক্রেডিট".

support = Need a hand? We are happy to help.{ $contacts }
support-none = Need a hand? Our team cannot be reached from this chat yet; please try again later.

## Contacts and links: each line appears only when its setting is configured

contact-page-codes = More free credits: follow our Facebook page for giveaway codes: { $url }
contact-upgrade = Prices and packs: { $url }
contact-video = How-to video: { $url }
contact-whatsapp = WhatsApp: { $number }
contact-page = Facebook page: { $url }
contact-email = E-mail: { $email }

lang-choose = Choose your language:
lang-set = Done: I will write to you in English from now on.

fallback-text = I did not quite get that. Send me a photo of your product to get studio images, or type "help" to see what I can do.
fallback-unknown-command = I do not know that command. Type "help" to see the ones I know.
fallback-unsupported = I can only work with photos and text. Please send your product photo as a picture or an image file.
fallback-too-long = That message is too long for me. Please send a short message, or a photo of your product.
button-stale = That button is no longer active. Type "help" to see what I can do.

error-internal = Sorry, something went wrong on our side. Please try again in a minute; your credits are safe.
error-bad-input = I could not understand that. Type "help" to see what I can do.
error-unavailable = Sorry, we could not take your message just now. Please send it again in a minute; nothing was charged.
error-rate-limited = You are sending messages very quickly. Please wait a minute and try again.

price-answer =
    Each photo costs { $cost ->
        [one] { $cost } credit
       *[other] { $cost } credits
    }; the other backgrounds and sizes of the same photo are free for a day.{ $more }
    To see your balance, type "credits".

## Commands: one sentence each, for /help and Telegram's menu (the command itself is declared in code)

command-start = Start, or redeem a giveaway code
command-help = What I can do
command-credits = Your credits and how to get more
command-redeem = Use a giveaway code
command-style = Choose background and size
command-history = Your recent photos
command-lang = English or Bengali
command-privacy = How we handle your data
command-delete = Delete your account and data
command-optin = Allow your photos to improve our models
command-optout = Withdraw that permission
command-mydata = Download all your data
command-support = Talk to a person
command-redeem-argument = CODE
