## Buying credits: packs, Telegram Stars, bKash

buy-choose = Choose a pack. { $method ->
        [stars] You pay with Telegram Stars, right here in the chat.
       *[bkash] You pay with bKash: the button opens bKash's payment page.
    }
buy-pack-stars = { $credits } credits · { $price } ⭐
buy-pack-bdt = { $credits } credits · ৳{ $price }
buy-nothing-on-sale = No credit packs are on sale right now.{ $more }
buy-unavailable = Buying in this chat is not available yet.{ $more }
buy-pack-gone = That pack is no longer on sale. Please choose again with /buy.
buy-price-changed = The price of this pack has changed. Please choose it again with /buy.
buy-invoice-unknown = This invoice is not valid any more. Please start again with /buy.
buy-invoice-used = This invoice was already paid or closed. Please start again with /buy.
buy-try-again = We could not check this payment just now. Nothing was charged: please try again in a minute.
buy-invoice-title = { $credits } Nexoraz credits
buy-invoice-description = { $credits } credits for product photos ({ $cost } credit per photo). Credits are added as soon as you pay.
buy-invoice-label = { $credits } credits
buy-bkash-link = { $credits } credits for ৳{ $price } (payment #{ $number }). Tap the button to pay with bKash; come back here afterwards.
buy-bkash-button = Pay with bKash
buy-receipt = ✅ Payment #{ $number } received: { $credits } credits added. Your balance is now { $balance }.
buy-paid-mismatch = ⚠️ Payment #{ $number } did not match the pack's price, so no credits were added. Please write to { $email } with this number.
buy-paid-not-granted = ⚠️ Payment #{ $number } arrived after it was closed, so no credits were added. Please write to { $email } with this number: we add the credits or refund you.
buy-bkash-failed = Payment #{ $number } did not go through, and nothing was charged. You can try again with /buy.
buy-bkash-not-charged = Payment #{ $number } was stopped before you were charged: that pack's price changed or it is no longer on sale. Please choose again with /buy.
buy-refunded = Payment #{ $number } was refunded. { $taken } credits were taken back; your balance is now { $balance }.
paysupport =
    Questions about a payment? Write to us with your payment number (#…), and we answer within a day.{ $contacts }
    Refunds of unused credits are made by our team; Telegram Stars go back to your Telegram account, bKash payments to your bKash wallet.
terms =
    Terms of sale: credits pay for product photos rendered by Nexoraz. A pack's credits are added once its payment is confirmed; they do not expire.
    Unused credits can be refunded on request within 14 days of buying (see /paysupport). Credits already used for photos are not refunded.
    We keep only what billing needs (payment number, pack, amount, transaction id, dates).{ $contacts }
credits-purchased = Bought: { $purchased } · gifts and bonuses: { $gifts }
command-buy = Buy credits
command-paysupport = Help with a payment
command-terms = Terms of sale

bkash-page-title = Nexoraz payment
bkash-page-paid = Payment received: your credits are added. You can go back to the chat now.
bkash-page-failed = The payment did not go through, and nothing was charged. Go back to the chat to try again.
bkash-page-changed = The pack changed before you paid, so nothing was charged. Go back to the chat and choose again.
bkash-page-unknown = We do not know this payment. If money left your wallet, write to { $email }.
bkash-page-later = bKash is not answering right now. We will check the payment again and tell you in the chat.
